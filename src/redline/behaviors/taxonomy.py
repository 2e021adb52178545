"""The harm taxonomy of the built-in behaviour sets, with mappings to public frameworks.

``mlcommons`` names the MLCommons AILuminate v1.0 hazard category; ``owasp`` the OWASP Top 10
for LLM Applications 2025 entry, where one applies (most content harms have none: OWASP lists
application-security risks); ``atlas`` the MITRE ATLAS techniques; ``nist`` the NIST AI 600-1
(Generative AI Profile) risk.
"""

from __future__ import annotations

from dataclasses import dataclass

JAILBREAK = "AML.T0054 LLM Jailbreak"
EXTERNAL_HARMS = "AML.T0048 External Harms"
HARMFUL = "Dangerous, Violent, or Hateful Content"


@dataclass(frozen=True, slots=True)
class Category:
    """One harm category and where it sits in public taxonomies."""

    name: str
    description: str
    mlcommons: str | None
    owasp: str | None
    atlas: str | None = None
    nist: str | None = None


CATEGORIES: dict[str, Category] = {
    c.name: c
    for c in [
        Category(
            "cbrne_weapons",
            "chemical, biological, radiological, nuclear and explosive weapons; illegal firearms",
            "Indiscriminate Weapons (CBRNE)",
            None,
            f"{JAILBREAK}; {EXTERNAL_HARMS}",
            "CBRN Information or Capabilities",
        ),
        Category(
            "violent_crime",
            "planning or carrying out violence against people",
            "Violent Crimes",
            None,
            f"{JAILBREAK}; {EXTERNAL_HARMS}",
            HARMFUL,
        ),
        Category(
            "cybercrime",
            "malware, intrusion, account takeover, denial of service",
            "Non-Violent Crimes (cyber crimes)",
            None,
            f"{JAILBREAK}; {EXTERNAL_HARMS}",
            "Information Security",
        ),
        Category(
            "fraud_scams",
            "phishing, scams, identity theft, counterfeiting, laundering",
            "Non-Violent Crimes (fraud)",
            None,
            f"{JAILBREAK}; {EXTERNAL_HARMS}",
            "Information Integrity",
        ),
        Category(
            "hate_harassment",
            "dehumanising speech, threats, targeted harassment",
            "Hate",
            None,
            f"{JAILBREAK}; {EXTERNAL_HARMS}",
            HARMFUL,
        ),
        Category(
            "self_harm",
            "suicide, self-injury, eating disorders",
            "Suicide & Self-Harm",
            None,
            f"{JAILBREAK}; {EXTERNAL_HARMS}",
            HARMFUL,
        ),
        Category(
            "privacy",
            "surveillance, stalking, doxxing, exposing personal data",
            "Privacy",
            "LLM02:2025 Sensitive Information Disclosure",
            "AML.T0057 LLM Data Leakage",
            "Data Privacy",
        ),
        Category(
            "misinformation",
            "fabricated news, election and health disinformation",
            "Specialized Advice (elections)",
            "LLM09:2025 Misinformation",
            f"{JAILBREAK}; {EXTERNAL_HARMS}",
            "Information Integrity",
        ),
        Category(
            "illegal_drugs",
            "making, trafficking or covertly administering drugs",
            "Non-Violent Crimes (drugs)",
            None,
            f"{JAILBREAK}; {EXTERNAL_HARMS}",
            HARMFUL,
        ),
        Category(
            "defamation",
            "false, damaging claims about real people or organisations",
            "Defamation",
            None,
            f"{JAILBREAK}; {EXTERNAL_HARMS}",
            "Information Integrity",
        ),
        Category(
            "ip_infringement",
            "piracy, circumventing DRM, reproducing protected works",
            "Intellectual Property",
            None,
            f"{JAILBREAK}; {EXTERNAL_HARMS}",
            "Intellectual Property",
        ),
        Category(
            "prompt_security",
            "system-prompt leakage, prompt injection, abuse of tools and retrieval",
            None,
            "LLM01:2025 Prompt Injection; LLM07:2025 System Prompt Leakage",
            "AML.T0051 LLM Prompt Injection; AML.T0056 LLM Meta Prompt Extraction",
            "Information Security",
        ),
        Category(
            "system_prompt_leakage",
            "an application's system prompt extracted (apps set)",
            None,
            "LLM07:2025 System Prompt Leakage",
            "AML.T0056 LLM Meta Prompt Extraction",
            "Information Security",
        ),
        Category(
            "secret_leakage",
            "secrets or canaries in an application's context disclosed (apps set)",
            None,
            "LLM02:2025 Sensitive Information Disclosure",
            "AML.T0057 LLM Data Leakage",
            "Information Security",
        ),
        Category(
            "cross_user_leakage",
            "another user's data disclosed by an application (apps set)",
            "Privacy",
            "LLM02:2025 Sensitive Information Disclosure; LLM08:2025 Vector and Embedding "
            "Weaknesses",
            "AML.T0057 LLM Data Leakage",
            "Data Privacy",
        ),
        Category(
            "indirect_injection",
            "an instruction hidden in retrieved content followed (apps set)",
            None,
            "LLM01:2025 Prompt Injection",
            "AML.T0051.001 LLM Prompt Injection: Indirect",
            "Information Security",
        ),
        Category(
            "unauthorized_tool_call",
            "a tool called that the user did not ask for, or with attacker-chosen arguments "
            "(apps set)",
            None,
            "LLM06:2025 Excessive Agency; LLM01:2025 Prompt Injection",
            "AML.T0053 LLM Plugin Compromise",
            "Information Security",
        ),
        Category(
            "markdown_exfiltration",
            "context data carried out in a markdown image or link URL (apps set)",
            None,
            "LLM02:2025 Sensitive Information Disclosure; LLM05:2025 Improper Output Handling",
            "AML.T0057 LLM Data Leakage",
            "Information Security",
        ),
        Category(
            "excessive_agency",
            "a consequential action taken without the user's confirmation (apps set)",
            None,
            "LLM06:2025 Excessive Agency",
            "AML.T0053 LLM Plugin Compromise",
            "Information Security",
        ),
        Category(
            "off_policy",
            "a task outside the application's stated purpose carried out (apps set)",
            None,
            "LLM01:2025 Prompt Injection",
            JAILBREAK,
            "Information Integrity",
        ),
        Category(
            "package_hallucination",
            "a package or API that does not exist recommended in code (apps set)",
            None,
            "LLM09:2025 Misinformation",
            "AML.T0011.001 User Execution: Malicious Package",
            "Confabulation",
        ),
    ]
}
