"""Device-facing intake: syslog, SNMP traps and check results into the raw topics."""
