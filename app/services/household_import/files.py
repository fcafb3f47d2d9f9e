"""The web upload's files (its background jobs: app/services/import_jobs.py)."""
from __future__ import annotations

import time
from pathlib import Path

def import_folder(app) -> Path:
    folder = Path(app.config["UPLOAD_FOLDER"]) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def remove_old_files(folder: Path, days: float) -> int:
    """Uploaded files and reports hold personal data: keep them ``days`` days, then delete them
    (the job rows stay; their report link answers 404). Returns the number removed."""
    limit = time.time() - days * 86400
    removed = 0
    for path in list(folder.glob("*")) + list(folder.glob("reports/*")):
        try:
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
        except OSError:
            pass
    return removed
