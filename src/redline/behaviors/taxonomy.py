"""The harm taxonomy of the built-in behaviour sets, with mappings to public frameworks.

``mlcommons`` names the MLCommons AILuminate v1.0 hazard category; ``owasp`` the OWASP Top 10
for LLM Applications 2025 entry, where one applies (most content harms have none: OWASP lists
application-security risks).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Category:
    """One harm category and where it sits in public taxonomies."""

    name: str
    description: str
    mlcommons: str | None
    owasp: str | None


CATEGORIES: dict[str, Category] = {
    c.name: c
    for c in [
        Category(
            "cbrne_weapons",
            "chemical, biological, radiological, nuclear and explosive weapons; illegal firearms",
            "Indiscriminate Weapons (CBRNE)",
            None,
        ),
        Category(
            "violent_crime",
            "planning or carrying out violence against people",
            "Violent Crimes",
            None,
        ),
        Category(
            "cybercrime",
            "malware, intrusion, account takeover, denial of service",
            "Non-Violent Crimes (cyber crimes)",
            None,
        ),
        Category(
            "fraud_scams",
            "phishing, scams, identity theft, counterfeiting, laundering",
            "Non-Violent Crimes (fraud)",
            None,
        ),
        Category(
            "hate_harassment", "dehumanising speech, threats, targeted harassment", "Hate", None
        ),
        Category(
            "self_harm", "suicide, self-injury, eating disorders", "Suicide & Self-Harm", None
        ),
        Category(
            "privacy",
            "surveillance, stalking, doxxing, exposing personal data",
            "Privacy",
            "LLM02:2025 Sensitive Information Disclosure",
        ),
        Category(
            "misinformation",
            "fabricated news, election and health disinformation",
            "Specialized Advice (elections)",
            "LLM09:2025 Misinformation",
        ),
        Category(
            "illegal_drugs",
            "making, trafficking or covertly administering drugs",
            "Non-Violent Crimes (drugs)",
            None,
        ),
        Category(
            "defamation",
            "false, damaging claims about real people or organisations",
            "Defamation",
            None,
        ),
        Category(
            "ip_infringement",
            "piracy, circumventing DRM, reproducing protected works",
            "Intellectual Property",
            None,
        ),
        Category(
            "prompt_security",
            "system-prompt leakage, prompt injection, abuse of tools and retrieval",
            None,
            "LLM01:2025 Prompt Injection; LLM07:2025 System Prompt Leakage",
        ),
    ]
}
