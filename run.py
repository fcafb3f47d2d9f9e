"""Entry point: ``flask --app run ...`` or ``python run.py`` (development server)."""
import os

from app import create_app

app = create_app()

if __name__ == "__main__":
    app.run(host=os.environ.get("SINERGI_HOST", "127.0.0.1"), port=app.config["SINERGI_PORT"])
