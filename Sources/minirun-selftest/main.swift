print("minirun-selftest: not built yet")
