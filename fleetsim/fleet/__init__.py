"""Scalar fleet and money functions over years, compiled with :func:`fleetsim._jit.jit`."""
