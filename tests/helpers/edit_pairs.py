"""Real edit pairs (prompt before, prompt after) for the integration tests of the engine."""

from __future__ import annotations

LIBRARY = (
    "The Riverside library will reopen on March 14 after a six-month renovation. The new "
    "building has a children's wing, a maker space with 3D printers, and longer opening hours: "
    "8 am to 9 pm on weekdays. The city council approved a budget of 4.2 million dollars for the "
    "work. Head librarian Maria Okafor said the staff are excited to welcome readers back."
)
MEETING = (
    "Minutes of the design review, Tuesday. Attendees: Priya, Tom, Lena. The team agreed to move "
    "the login page to the new component library. Tom will finish the password reset flow by "
    "Friday. Lena raised concerns about the loading time of the dashboard, which now takes four "
    "seconds on a slow connection. The group decided to profile it before the next release. "
    "Priya will write the migration guide."
)
CODE = (
    "def average(values):\n"
    "    total = 0\n"
    "    for v in values:\n"
    "        total += v\n"
    "    return total / len(values)\n"
)

SUMMARIZE = "Summarize the following document in two sentences.\n\n"
REVIEW = "Review this Python function and point out problems.\n\n"

EDIT_PAIRS: list[tuple[str, str, str]] = [
    ("typo", SUMMARIZE + LIBRARY, SUMMARIZE + LIBRARY.replace("renovation", "renovaton")),
    ("typo-fix", SUMMARIZE + MEETING.replace("agreed", "agred"), SUMMARIZE + MEETING),
    ("reword", SUMMARIZE + LIBRARY,
     SUMMARIZE + LIBRARY.replace("are excited to welcome", "look forward to welcoming")),
    ("fact-date", SUMMARIZE + LIBRARY, SUMMARIZE + LIBRARY.replace("March 14", "April 3")),
    ("fact-number", SUMMARIZE + LIBRARY, SUMMARIZE + LIBRARY.replace("4.2 million", "5.8 million")),
    ("fact-name", SUMMARIZE + MEETING, SUMMARIZE + MEETING.replace("Tom", "Marco")),
    ("append", SUMMARIZE + MEETING,
     SUMMARIZE + MEETING + " The next review is planned for the first week of June."),
    ("append-unrelated", SUMMARIZE + LIBRARY,
     SUMMARIZE + LIBRARY + " Parking nearby is free after six in the evening."),
    ("deletion", SUMMARIZE + MEETING,
     SUMMARIZE + MEETING.replace(" Priya will write the migration guide.", "")),
    ("deletion-middle", SUMMARIZE + LIBRARY,
     SUMMARIZE + LIBRARY.replace(" The city council approved a budget of 4.2 million dollars "
                                 "for the work.", "")),
    ("code-guard", REVIEW + CODE,
     REVIEW + CODE.replace("    total = 0\n", "    if not values:\n        return 0.0\n"
                           "    total = 0\n")),
    ("code-rename", REVIEW + CODE, REVIEW + CODE.replace("values", "numbers")),
]
