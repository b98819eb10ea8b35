"""weilinli NLP: jieba keyword-rule classifier, extraction and evaluation tooling.

Imports nothing of the project but settings (and not even that at the moment): usable offline.
"""

from nlp.classifier import (
    CATEGORIES,
    INTENTS,
    Classification,
    add_user_words,
    category_label,
    classify,
    reload_rules,
    save_rules_text,
    validate_rules_text,
)

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
