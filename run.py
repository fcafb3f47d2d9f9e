"""Entry point: ``flask --app run ...`` or ``python run.py`` (development server)."""
import os

from app import create_app

app = create_app()

if __name__ == "__main__":
    import importlib.util

    # The same rule as gunicorn.conf.py: demo mode listens on loopback only unless told otherwise.
    spec = importlib.util.spec_from_file_location("gunicorn_conf", os.path.join(os.path.dirname(__file__),
                                                                                "gunicorn.conf.py"))
    gunicorn_conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gunicorn_conf)
    host = os.environ.get("SINERGI_HOST", "127.0.0.1")
    gunicorn_conf.refuse_public_demo([f"{host}:{app.config['SINERGI_PORT']}"], app.config["SINERGI_ENV"],
                                     app.config["SINERGI_ALLOW_PUBLIC_DEMO"])
    app.run(host=host, port=app.config["SINERGI_PORT"])
