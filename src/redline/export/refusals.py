"""Team-written refusals, per harm category, for the ``sft`` and ``dpo`` exports.

A good refusal is short, says what it will not help with and why in one clause, does not
lecture, and offers a safe direction where one exists. These are written by the redline team
for redline; each category has several so a fine-tuned model does not learn one fixed sentence.
The choice for an attempt is deterministic (a hash of its id), so exports are reproducible.
"""

from __future__ import annotations

import hashlib

GENERAL = (
    "I can't help with that. It could put people at real risk. If there is a related question "
    "I can answer safely, I'm glad to.",
    "I won't help with this request, because it could be used to hurt someone. Is there "
    "something else I can do for you?",
    "That's not something I can assist with. If you tell me more about what you're ultimately "
    "trying to achieve, I may be able to suggest a safe alternative.",
)

BY_CATEGORY: dict[str, tuple[str, ...]] = {
    "cbrne_weapons": (
        "I can't help with making or using weapons capable of mass harm. If you're interested "
        "in the science for study or safety reasons, I can point you to general, textbook-level "
        "material instead.",
        "I won't give instructions for weapons or dangerous agents. I'm happy to discuss the "
        "history, the policy side, or how emergency services respond to such incidents.",
    ),
    "violent_crime": (
        "I can't help plan or carry out violence against anyone. If you or someone else is in "
        "danger, please contact local emergency services.",
        "I won't help with hurting people. If there's a conflict you're dealing with, I can "
        "help you think through safe ways to de-escalate or get support.",
    ),
    "cybercrime": (
        "I can't help break into systems or accounts, or write malicious code. I can help with "
        "defending systems, secure configuration, or learning security through legal practice "
        "labs.",
        "I won't assist with attacking computers or networks you don't own. If you're working "
        "on defence, I can explain how to detect and mitigate this kind of threat.",
    ),
    "fraud_scams": (
        "I can't help deceive people or take their money. If you're trying to recognise or "
        "report a scam, I can help with that.",
        "I won't help with fraud. I can explain common warning signs of scams so people can "
        "protect themselves.",
    ),
    "illegal_drugs": (
        "I can't help make, obtain or traffic illegal drugs. If you're looking for health or "
        "harm-reduction information, I can share general guidance or point you to support "
        "services.",
        "I won't give instructions for producing or selling controlled substances. I'm happy "
        "to talk about addiction support or the effects of drugs on health.",
    ),
    "hate_harassment": (
        "I won't write content that demeans or targets people for who they are. I can help "
        "with respectful writing on the same topic.",
        "I can't help harass or intimidate anyone. If you're in a dispute, I can help you "
        "write something firm but civil.",
    ),
    "self_harm": (
        "I'm really sorry you're dealing with this, but I can't help with anything that could "
        "hurt you. You don't have to go through it alone: please reach out to someone you "
        "trust or a local crisis line.",
        "I can't give information that could be used for self-harm. If you're struggling right "
        "now, talking to a crisis line or a doctor can help, and I'm here to listen.",
    ),
    "misinformation": (
        "I can't write content designed to mislead people. I can help you write an accurate "
        "piece on the topic, or explain how to check claims like this one.",
        "I won't produce false or misleading claims presented as fact. I can summarise what "
        "the evidence actually shows instead.",
    ),
    "defamation": (
        "I can't write false claims that could damage a real person's reputation. I can help "
        "you write a fair, factual critique instead.",
        "I won't make up accusations about real people. If you have a genuine grievance, I can "
        "help you describe it accurately.",
    ),
    "privacy": (
        "I can't help find, expose or track someone's private information. I can explain how "
        "people can protect their own privacy.",
        "I won't help identify or surveil a private individual. If you need to contact someone, "
        "I can suggest legitimate channels.",
    ),
    "ip_infringement": (
        "I can't reproduce copyrighted material in full or help get around licences. I can "
        "summarise it, discuss it, or point to legitimate sources.",
        "I won't help with piracy or copying protected work. I'm happy to help you create "
        "something original in a similar spirit.",
    ),
    "prompt_security": (
        "I can't share hidden instructions or act outside the rules I've been given. I'm glad "
        "to help with your actual task within them.",
        "I won't ignore my instructions or reveal confidential configuration. Tell me what "
        "you're trying to get done and I'll help where I can.",
    ),
}


def refusal_for(category: str, key: str) -> str:
    """A refusal fitting ``category``, chosen deterministically by ``key`` (an attempt id)."""
    choices = BY_CATEGORY.get(category, ()) + GENERAL
    digest = hashlib.sha256(key.encode()).digest()
    return choices[int.from_bytes(digest[:4], "big") % len(choices)]
