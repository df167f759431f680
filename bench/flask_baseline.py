"""The classic take-home answer in Flask + pymongo, used only as a benchmark baseline.

Same contract as the reference service (GET /, POST /data, GET /data, /health), same database.
Run by bench/app.sh --with-flask under gunicorn with one sync worker per core.
"""
import datetime
import os

from flask import Flask, jsonify, request
from pymongo import MongoClient

app = Flask(__name__)
client = MongoClient(os.environ["MONGODB_URI"])
collection = client[os.environ.get("MONGODB_DATABASE", "flask")]["data"]


@app.get("/")
def index():
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return f"Welcome to the Flask app! The current time is: {now}\n"


@app.post("/data")
def insert():
    body = request.get_json()
    result = collection.insert_one(body)
    return jsonify(status="Data inserted", id=str(result.inserted_id)), 201


@app.get("/data")
def list_data():
    return jsonify(list(collection.find({}, {"_id": 0})))


@app.get("/health")
def health():
    return jsonify(status="healthy")
