"""The offline demo: 240 shipped faces, efficientnet_lite0 features, every head, grouped CV."""
