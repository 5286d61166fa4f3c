"""`redraft serve`: redraft over HTTP (OpenAI-compatible chat completions with Predicted
Outputs, document sessions, and the race page). FastAPI and uvicorn load only here."""
