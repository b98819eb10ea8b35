"""The WeChat adapter: webhook, protocol, API client and push channels (transport only)."""
