// initializer kernels (being written)
