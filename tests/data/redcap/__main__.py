"""``python -m tests.data.redcap OUT_DIR``: write the REDCap project's two files to look at."""

import sys

from . import write_project

out = write_project(sys.argv[1] if len(sys.argv) > 1 else "redcap_project")
print(out["metadata"], out["records"], sep="\n")
