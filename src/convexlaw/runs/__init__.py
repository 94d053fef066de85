"""Training runs: the :class:`Run` record, the SQLite :class:`RunStore`, and importers.

>>> from convexlaw.runs import Run, RunStore, load_runs
>>> runs = load_runs(["/work/shared/data/mpl-25m/cosine_24000.csv"])   # doctest: +SKIP
>>> RunStore("runs.db").put(runs[0])                                    # doctest: +SKIP
"""

from convexlaw.runs.importers import (
    ImportReport,
    RunImportError,
    import_file,
    import_files,
    load_runs,
    run_from_wandb,
)
from convexlaw.runs.record import STATUSES, Run
from convexlaw.runs.store import (
    SCHEMA_VERSION,
    RunNotFoundError,
    RunStore,
    RunStoreError,
    RunStoreReadOnlyError,
    default_db_path,
)
from convexlaw.runs.tables import RunImportWarning

__all__ = [
    "ImportReport",
    "RunImportError",
    "RunImportWarning",
    "RunNotFoundError",
    "Run",
    "RunStore",
    "RunStoreError",
    "RunStoreReadOnlyError",
    "SCHEMA_VERSION",
    "STATUSES",
    "default_db_path",
    "import_file",
    "import_files",
    "load_runs",
    "run_from_wandb",
]
