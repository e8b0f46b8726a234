"""The dashboard at /__mock/ui: the mock's jobs, journal, webhooks and controls in a browser.

Pages are rendered here (Jinja2); every action a page offers is a call to the control plane's own
HTTP API (``/__mock/...``) from the browser, so the dashboard can do nothing the API cannot.
"""
