"""The import screens: upload a CSV/XLSX, watch the check run as a background job (the page
polls a JSON status), read the validation report on screen or download it as CSV/XLSX,
then commit a file that passed. All the work is app/services/household_import.py — the
same engine as ``flask --app run households import``.

Who: operators (their own kabupaten/kota; rows elsewhere are rejected in the report) and
Bappeda / Admin (province-wide); roles.IMPORTS. Jobs are visible through the scope of
ImportJob (app/security/scope.py): an operator sees the jobs of their regency, Bappeda and
Admin all jobs.
"""
from __future__ import annotations

import uuid
from pathlib import Path

import flask_login
from flask import Response, abort, current_app, flash, g, jsonify, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from sqlalchemy import select

from app.extensions import db
from app.models.jobs import ImportJob
from app.security import scope as scope_mod
from app.services import household_import as engine_mod
from app.services import import_jobs
from app.views.choices import snapshot_choices

UPLOAD_EXTENSIONS = (".csv", ".txt", ".xlsx")
KIND_LABELS = {"households": "Rumah tangga", "members": "Anggota rumah tangga", "enrolments": "Kepesertaan program"}
PHASE_LABELS = {"membaca": "membaca berkas", "memeriksa": "memeriksa baris", "menyimpan": "menyimpan",
                "selesai": "selesai"}
STATUS_LABELS = {"queued": "menunggu", "running": "berjalan", "done": "selesai", "failed": "gagal"}
EXAMPLES = {  # the columns in the documented order, with one example row (the downloadable template)
    "households": {"no_kk": "1807010101150001", "nik_kepala": "1807014501800002", "nama_kepala": "Siti Aminah",
                   "alamat": "Dusun I", "rt": "001", "rw": "002", "kode_desa": "18.07.01.2001", "desil": "1",
                   "jumlah_anggota": "4", "lintang": "-5,1234", "bujur": "105,6789", "sumber": "BDT 2015"},
    "members": {"no_kk": "1807010101150001", "nik": "1807014501800002", "nama": "Siti Aminah",
                "jenis_kelamin": "P", "tanggal_lahir": "05-01-1980", "hubungan": "kepala"},
    "enrolments": {"no_kk": "1807010101150001", "kode_program": "PRV-2017-A01", "tahun": "2017",
                   "status": "usulan", "nilai": "1.500.000"},
}


def _max_upload_mb():
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    mb = round(limit / (1024 * 1024), 1)
    return int(mb) if mb == int(mb) else mb


def _visible_jobs(query):
    """ImportJob rows the current user may see: the scope rule of ImportJob (operators: their
    regency's jobs; Admin / Bappeda: all)."""
    return scope_mod.apply(query, ImportJob)


def _job_ok(job: ImportJob) -> bool:
    summary = job.summary or {}
    return job.status == "done" and not summary.get("fatal") and summary.get("problems", 1) == 0


class ImportView(BaseView):
    route_base = "/imports"
    default_view = "index"
    class_permission_name = "ImportView"
    method_permission_name = {name: "import" for name in
                              ("index", "upload", "job", "status", "commit", "retry", "report", "template")}

    def create_blueprint(self, appbuilder, endpoint=None, static_folder=None):
        blueprint = super().create_blueprint(appbuilder, endpoint=endpoint, static_folder=static_folder)
        # A body larger than MAX_CONTENT_LENGTH: a clear message on the upload page, not a bare 413.
        blueprint.register_error_handler(413, self.too_large)
        return blueprint

    # --- pages -------------------------------------------------------------------------------
    def _index(self, status: int = 200, error: str | None = None):
        if import_jobs.mark_interrupted(db.session.connection()):  # the list shows no dead job as running
            db.session.commit()
        jobs = db.session.execute(_visible_jobs(select(ImportJob)).order_by(ImportJob.id.desc()).limit(30)) \
            .scalars().all()
        scope = scope_mod.current_scope()
        body = self.render_template(
            "imports/index.html", jobs=jobs, kinds=engine_mod.KINDS, kind_labels=KIND_LABELS,
            status_labels=STATUS_LABELS, max_mb=_max_upload_mb(),
            max_bytes=current_app.config.get("MAX_CONTENT_LENGTH") or 0, error=error,
            region=self._region_name(scope), examples=EXAMPLES, aliases=engine_mod.HEADER_ALIASES,
            snapshots=snapshot_choices())
        return body, status

    def _region_name(self, scope) -> str | None:
        if scope.kind != "regency":
            return None
        from app.models.areas import Regency

        return db.session.execute(select(Regency.name).where(Regency.id == scope.regency_id)).scalar()

    def too_large(self, error):
        message = (f"Berkas terlalu besar: batas unggahan {_max_upload_mb()} MB. Pecah berkas menjadi beberapa "
                   f"bagian, atau minta Bappeda mengimpornya lewat perintah baris "
                   f"(flask households import).")
        if not hasattr(g, "user"):  # refused in a before_request (CSRF reads the form) before FAB's own ran
            g.user = flask_login.current_user
        # Only the upload page for those who may see it (this handler runs without @has_access).
        if request.accept_mimetypes.best == "application/json" or \
                not self.appbuilder.sm.has_access("can_import", self.class_permission_name):
            return jsonify(error=message), 413
        return self._index(413, message)

    @expose("/")
    @has_access
    def index(self):
        return self._index()

    @expose("/upload", methods=["POST"])
    @has_access
    def upload(self):
        scope = scope_mod.current_scope()
        if scope.kind not in ("all", "regency"):
            abort(403)
        kind = request.form.get("kind", "households")
        upload = request.files.get("file")
        if kind not in engine_mod.KINDS:
            return self._index(400, "Jenis data tidak dikenal.")
        target = None
        if kind == "households":
            try:
                target = engine_mod.snapshot_target(request.form.get("snapshot_source"),
                                                    request.form.get("snapshot_period"),
                                                    request.form.get("confirm_older") == "y")
            except ValueError as exc:
                return self._index(400, f"Sumber dan periode data: {exc}.")
        if upload is None or not upload.filename:
            return self._index(400, "Pilih berkas CSV atau XLSX lebih dulu.")
        suffix = Path(upload.filename).suffix.lower()
        if suffix not in UPLOAD_EXTENSIONS:
            return self._index(400, f"Berkas {upload.filename} bukan CSV atau XLSX (.csv, .xlsx).")
        folder = engine_mod.import_folder(current_app)
        engine_mod.remove_old_files(folder, current_app.config.get("SINERGI_IMPORT_KEEP_DAYS", 7))
        stored = folder / f"{uuid.uuid4().hex}{suffix}"
        upload.save(stored)
        user = self.appbuilder.sm.current_user
        job_id = import_jobs.create_job(
            db.engine, kind=kind, dry_run=True, user_id=user.id, username=user.username,
            regency_id=scope.regency_id if scope.kind == "regency" else None,
            filename=Path(upload.filename).name, stored_path=str(stored), target=target)
        import_jobs.enqueue_or_fail(current_app._get_current_object(), job_id)
        return redirect(url_for(".job", job_id=job_id))

    def _job_or_404(self, job_id: int) -> ImportJob:
        job = db.session.execute(_visible_jobs(select(ImportJob)).where(ImportJob.id == job_id)).scalar()
        if job is None:
            abort(404)
        # A running job whose worker died (its advisory lock is gone) fails now; no timer: a long
        # import is not a dead one. A queued job waits for a worker, however long.
        if job.status == "running" and import_jobs.mark_interrupted(db.session.connection(), job.id):
            db.session.commit()
            db.session.refresh(job)
        return job

    @staticmethod
    def _commit_job_of(job: ImportJob):
        """The commit job started from a checked (dry-run) job, if any."""
        if not (job.dry_run and job.stored_path):
            return None
        return db.session.execute(
            _visible_jobs(select(ImportJob)).where(ImportJob.stored_path == job.stored_path,
                                                   ImportJob.dry_run.is_(False),
                                                   ImportJob.status.in_(("queued", "running", "done")))
            .order_by(ImportJob.id.desc()).limit(1)).scalar()

    @expose("/job/<int:job_id>")
    @has_access
    def job(self, job_id):
        job = self._job_or_404(job_id)
        summary = job.summary or {}
        commit_job = self._commit_job_of(job)
        return self.render_template(
            "imports/job.html", job=job, summary=summary, ok=_job_ok(job), commit_job=commit_job,
            kind_label=KIND_LABELS.get(job.kind, job.kind), status_labels=STATUS_LABELS,
            phase_label=PHASE_LABELS.get(summary.get("phase"), ""), can_retry=self._can_retry(job),
            no_worker=job.status == "queued" and not import_jobs.worker_alive(db.session.connection()),
            can_commit=job.dry_run and _job_ok(job) and commit_job is None and job.stored_path
            and Path(job.stored_path).exists())

    @expose("/job/<int:job_id>/status")
    @has_access
    def status(self, job_id):
        job = self._job_or_404(job_id)
        summary = job.summary or {}
        percent = None
        if job.total:
            percent = min(100, round(100 * (job.progress or 0) / job.total))
        return jsonify(id=job.id, status=job.status, status_label=STATUS_LABELS.get(job.status, job.status),
                       phase=summary.get("phase"), phase_label=PHASE_LABELS.get(summary.get("phase"), ""),
                       progress=job.progress, total=job.total, percent=percent,
                       finished=job.status in ("done", "failed"), error=job.error)

    @expose("/job/<int:job_id>/commit", methods=["POST"])
    @has_access
    def commit(self, job_id):
        job = self._job_or_404(job_id)
        scope = scope_mod.current_scope()
        if scope.kind not in ("all", "regency"):
            abort(403)
        existing = self._commit_job_of(job)
        if existing is not None:  # committed already (or being committed): show that one
            return redirect(url_for(".job", job_id=existing.id))
        if not (job.dry_run and _job_ok(job) and job.stored_path and Path(job.stored_path).exists()):
            flash("Berkas ini belum lolos pemeriksaan (atau berkasnya sudah tidak ada); unggah lagi berkas yang sudah "
                  "diperbaiki.", "danger")
            return redirect(url_for(".job", job_id=job.id))
        user = self.appbuilder.sm.current_user
        commit_id = import_jobs.create_job(
            db.engine, kind=job.kind, dry_run=False, user_id=user.id, username=user.username,
            regency_id=scope.regency_id if scope.kind == "regency" else None, filename=job.filename,
            stored_path=job.stored_path,
            target=engine_mod.SnapshotTarget(job.snapshot_source, job.snapshot_period, job.confirm_older)
            if job.snapshot_source else None)
        import_jobs.enqueue_or_fail(current_app._get_current_object(), commit_id)
        return redirect(url_for(".job", job_id=commit_id))

    @expose("/job/<int:job_id>/retry", methods=["POST"])
    @has_access
    def retry(self, job_id):
        """"Ulangi": a failed job (e.g. its worker was stopped) goes back to the queue, same row.
        Only for those who see the job (404 otherwise) and may import."""
        job = self._job_or_404(job_id)
        if scope_mod.current_scope().kind not in ("all", "regency"):
            abort(403)
        if not self._can_retry(job):
            flash("Impor ini tidak dapat diulang (belum gagal, atau berkasnya sudah tidak ada); unggah lagi "
                  "berkasnya.", "danger")
            return redirect(url_for(".job", job_id=job.id))
        db.session.rollback()  # the row changes outside this session
        if not import_jobs.restart_job(current_app._get_current_object(), job.id):
            flash("Impor ini sudah diulang.", "info")
        return redirect(url_for(".job", job_id=job.id))

    def _can_retry(self, job: ImportJob) -> bool:
        if job.status != "failed" or not job.stored_path or not Path(job.stored_path).exists():
            return False
        # A check whose commit is under way or done is not run again (its commit stands).
        return not job.dry_run or self._commit_job_of(job) is None

    @expose("/job/<int:job_id>/report.<fmt>")
    @has_access
    def report(self, job_id, fmt):
        job = self._job_or_404(job_id)
        if fmt not in ("csv", "xlsx") or not job.report_path or not Path(job.report_path).exists():
            abort(404)
        if fmt == "csv":
            return send_file(job.report_path, mimetype="text/csv; charset=utf-8", as_attachment=True,
                             download_name=f"laporan-impor-{job.id}.csv", max_age=0)
        return send_file(engine_mod.report_xlsx(job.report_path), as_attachment=True, max_age=0,
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                         download_name=f"laporan-impor-{job.id}.xlsx")

    @expose("/template/<kind>.csv")
    @has_access
    def template(self, kind):
        """An empty file with the right header and one example row (';' for Indonesian Excel)."""
        if kind not in engine_mod.KINDS:
            abort(404)
        text = ";".join(EXAMPLES[kind]) + "\r\n" + ";".join(EXAMPLES[kind].values()) + "\r\n"
        return Response("\ufeff" + text, mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f"attachment; filename=contoh-{kind}.csv"})


def register(appbuilder) -> None:
    appbuilder.add_view(ImportView, "Import", label="Impor data", icon="fa-upload", category="Households")
