"""weilinli NLP: jieba keyword-rule classifier, extraction and evaluation tooling.

Imports nothing of the project but settings (only for the paths `services_file` and `rules_file`):
usable offline.
"""

__all__ = [
    "CATEGORIES",
    "INTENTS",
    "Classification",
    "add_user_words",
    "category_label",
    "classify",
    "reload_rules",
    "save_rules_text",
    "validate_rules_text",
]


def __getattr__(name: str):
    # Loaded on first use: jieba and the rules are not needed by `weilinli serve`'s master process
    # or by the other commands, which import this package for their command-line options only.
    if name in __all__:
        from nlp import classifier

        return getattr(classifier, name)
    raise AttributeError(f"module 'nlp' has no attribute {name!r}")
