"""Load the bundled model and decode a few tokens: exit 0 if the installed llama.cpp runs here."""

from redraft_engine import Engine
from redraft_engine.model_source import bundled_model_path

engine = Engine(bundled_model_path())
answer = engine.generate("Name three colours.", max_tokens=4)
print(f"engine smoke: {len(answer.tokens)} tokens, {engine.model.description}")
