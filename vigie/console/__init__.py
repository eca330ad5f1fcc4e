"""The operator console: server-rendered pages for staff, on-call and auditors, served by `vigie up`.

Pure parts (accounts, sessions, the state folded from the topics, each page's view model) are tested
without Kafka or HTTP; server.py is the aiohttp adapter, feed.py the Kafka one, pages/ one module per page.
"""
