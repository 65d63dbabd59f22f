"""Scalar serving physics: SI floats in, SI floats out, compiled with :func:`fleetsim._jit.jit`."""
