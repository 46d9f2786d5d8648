print("minirun: not built yet")
