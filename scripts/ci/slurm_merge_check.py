"""Check that a sharded sweep's parts merge into the unsharded run (for slurm_test.sh).

    python scripts/ci/slurm_merge_check.py FOLDER OVERRIDE...

FOLDER holds the ``part-*.nc`` files; the overrides are the sweep's, without the shard keys.
"""

import sys

import xarray as xr

import fleetsim

folder, overrides = sys.argv[1], sys.argv[2:]
merged = fleetsim.open_dataset(f"{folder}/*.nc").load()
full = fleetsim.run(overrides)
xr.testing.assert_identical(merged.drop_attrs(deep=False), full.drop_attrs(deep=False))
print(f"slurm_test: the parts in {folder} merge into the unsharded run ({dict(merged.sizes)})")
