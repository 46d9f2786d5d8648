import Images
print("x")
