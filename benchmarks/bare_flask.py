"""The ingest ceiling: a bare Flask app that reads the body and answers 202, nothing else."""

from flask import Flask, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/webhooks/<tracker>")
    def accept(tracker: str):
        request.get_data()
        return "", 202

    return app


app = create_app()
