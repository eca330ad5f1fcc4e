ROUTES = []
NAV = []
