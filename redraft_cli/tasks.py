"""Tasks: prompt templates with the instruction first and the document last.

Putting the document last means an edit near its end leaves most of the prompt's tokens, and
so most of the KV cache, reusable. Tasks are data: a custom task is just another template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCUMENT = "{document}"
QUESTION = "{question}"
_PLACEHOLDER = re.compile(re.escape(DOCUMENT) + "|" + re.escape(QUESTION))


class TaskError(ValueError):
    """A task name, template or question is unusable."""


@dataclass(frozen=True)
class Task:
    name: str
    template: str

    @property
    def needs_question(self) -> bool:
        return QUESTION in self.template

    def render(self, document: str, question: str | None = None) -> str:
        """The user message for `document` (and `question`, for templates that ask one)."""
        if self.needs_question and not question:
            raise TaskError(f"task {self.name!r} needs a question (--question)")
        values = {DOCUMENT: document, QUESTION: question or ""}
        return _PLACEHOLDER.sub(lambda m: values[m.group(0)], self.template)


BUILTIN_TASKS: dict[str, Task] = {
    "summarize": Task(
        "summarize",
        "Summarize the following document in a short paragraph. "
        "Keep names, numbers and dates exactly as the document gives them.\n\n{document}",
    ),
    "review": Task(
        "review",
        "Review the following code. List concrete problems (bugs, missing checks, unclear "
        "names) and suggest fixes, briefly.\n\n{document}",
    ),
    "answer": Task(
        "answer",
        "Answer the question using only the document below. Reply with a short sentence.\n"
        "Question: {question}\n\n{document}",
    ),
}


def custom_task(template: str, name: str = "custom") -> Task:
    """A task from a user template, which must contain {document}."""
    if DOCUMENT not in template:
        raise TaskError("a custom prompt must contain the placeholder {document}")
    return Task(name, template)
