"""Compress a NetCDF chunk into exactly what HDF5's filters store, off netCDF-C's thread.

netCDF-C compresses every chunk on the one thread that writes the file, which made the writer a
sweep's critical path (README, "Performance"). A chunked variable whose filters are blosc alone
(HDF5 filter 32001, as netCDF4's ``compression="blosc_*"`` declares it) or shuffle + deflate
(``compression="zlib"``) can instead be filled with HDF5's direct chunk write: the chunk is
compressed here, with the GIL released (c-blosc through python-blosc; CPython's zlib), on as
many threads as there are cores, and the bytes go to the file unchanged. They are the bytes
netCDF-C would have stored (``tests/test_chunk_codecs.py``): the filters' parameters are read
from the variable itself (:meth:`ChunkCodec.of`), and any reader decompresses them as usual.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import blosc
import numpy as np

#: HDF5's registered id of the blosc filter (hdf5-blosc; netCDF-C's plugin uses the same)
BLOSC_FILTER_ID = "32001"

#: blosc compressor names by the code hdf5-blosc stores in the filter's 7th parameter
BLOSC_COMPRESSORS = {0: "blosclz", 1: "lz4", 2: "lz4hc", 3: "snappy", 4: "zlib", 5: "zstd"}


@dataclass(frozen=True)
class ChunkCodec:
    """The filters of one chunked HDF5 dataset, as a function of a chunk's values.

    Attributes
    ----------
    compressor : str
        ``deflate`` (HDF5's filter 1) or a blosc compressor name (``lz4``, ``zstd``, ...).
    level : int
        Compression level 0-9.
    shuffle : int
        0 none, 1 byte shuffle (HDF5's filter 2 before deflate; blosc's own), 2 bit shuffle
        (blosc).
    typesize : int
        Bytes per element (the shuffle's unit). [B]
    shape : tuple of int
        Chunk shape (elements per dimension).
    fill : numpy scalar
        The dataset's fill value: what pads an edge chunk beyond the dataset's extent.
    """

    compressor: str
    level: int
    shuffle: int
    typesize: int
    shape: tuple[int, ...]
    fill: np.generic

    @classmethod
    def of(cls, dataset) -> ChunkCodec | None:
        """Return the codec of an h5py dataset filtered by blosc alone or [shuffle +] deflate.

        Parameters
        ----------
        dataset : h5py.Dataset
            A dataset as netCDF-C created it.

        Returns
        -------
        ChunkCodec or None
            None for a contiguous or unfiltered dataset, or any other filter pipeline.
        """
        filters = dataset._filters  # h5py: {filter name or id: parameters}, in pipeline order
        if dataset.chunks is None:
            return None
        common = {
            "typesize": dataset.dtype.itemsize,
            "shape": tuple(dataset.chunks),
            "fill": dataset.dtype.type(dataset.fillvalue),
        }
        if list(filters) == [BLOSC_FILTER_ID]:
            values = filters[BLOSC_FILTER_ID]
            return cls(BLOSC_COMPRESSORS[int(values[6])], int(values[4]), int(values[5]), **common)
        if list(filters) in (["gzip"], ["shuffle", "gzip"]):
            return cls("deflate", int(filters["gzip"]), int("shuffle" in filters), **common)
        return None

    def chunk_offset(self, slices: tuple[slice, ...]) -> tuple[int, ...]:
        """Return the offset of the one chunk that ``slices`` covers (whole trailing dimensions).

        Parameters
        ----------
        slices : tuple of slice
            A block of the leading dimensions.

        Raises
        ------
        ValueError
            If the block is not exactly one chunk (an edge chunk may be shorter).
        """
        leading = self.shape[: len(slices)]
        if any(s.start % n or s.stop - s.start > n for s, n in zip(slices, leading, strict=True)):
            raise ValueError(f"hyperslab {slices} is not one chunk of shape {self.shape}")
        return (*(s.start for s in slices), *(0,) * (len(self.shape) - len(slices)))

    def compress(self, block: np.ndarray) -> bytes:
        """Return one chunk's stored bytes: ``block`` padded to the chunk shape, compressed.

        Parameters
        ----------
        block : numpy.ndarray
            The chunk's values, at most :attr:`shape` (an edge chunk is padded with
            :attr:`fill`, as HDF5 stores it whole).
        """
        if block.shape != self.shape:
            whole = np.full(self.shape, self.fill, dtype=block.dtype)
            whole[tuple(slice(0, n) for n in block.shape)] = block
            block = whole
        block = np.ascontiguousarray(block)
        if self.compressor == "deflate":  # HDF5's shuffle: byte k of every element together
            raw = block.view(np.uint8).reshape(-1, self.typesize)
            return zlib.compress((raw.T if self.shuffle else raw).tobytes(), self.level)
        return blosc.compress_ptr(
            block.__array_interface__["data"][0], block.nbytes // self.typesize, self.typesize,
            self.level, self.shuffle, self.compressor,
        )  # fmt: skip


def configure() -> int:
    """Make python-blosc release the GIL and compress each call on one thread.

    The caller's threads are the parallelism, one chunk each. Returns python-blosc's previous
    thread count, for the caller to restore.
    """
    blosc.set_releasegil(True)
    return blosc.set_nthreads(1)
