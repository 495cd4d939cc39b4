"""Identity primitives shared by the data and control planes: key format, hashing, key status."""
