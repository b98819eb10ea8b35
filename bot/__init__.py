"""The service core: storage, the event domain, the WeChat adapter, the app factory."""
