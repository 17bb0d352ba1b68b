print("weirctl")
