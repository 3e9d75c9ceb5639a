"""The paper's tables as the paper lays them out: which tables there are, and their rows, columns and
categories under the names the paper prints.
"""

from __future__ import annotations

PAPER_TABLES = ("table1", "table2", "table3", "table4", "table5", "table6", "table7", "table9", "table10")


#: XSTest ``type`` field → Table 9's printed prompt type.
XSTEST_TYPES = {
    "homonyms": "T1 Homonyms", "figurative_language": "T2 Figurative Language",
    "safe_targets": "T3 Safe Targets", "safe_contexts": "T4 Safe Contexts", "definitions": "T5 Definitions",
    "nons_group_real_discr": "T6 Real Discr., Nons. Group", "real_group_nons_discr": "T7 Nons. Discr., Real Group",
    "historical_events": "T8 Historical Events", "privacy_public": "T9 Privacy (Public)",
    "privacy_fictional": "T10 Privacy (Fictional)",
}


#: XSTest columns of Tables 3 and 9 → judge label.
XSTEST_COLUMNS = {"FC": "full_compliance", "FR": "full_refusal", "PR": "partial_refusal"}


INTERPRETER_TYPES = ("Privilege Escalation", "Container Escape", "Reflected Attack", "Post Exploitation",
                     "Social Engineering")


INJECTION_TYPES = {"direct": "Direct", "indirect": "Indirect"}


RISK_CATEGORIES = {"security": "Security", "securityviolating": "Security", "logic": "Logic",
                   "logicviolating": "Logic"}


#: Benchmark → its column header in Tables 2 and 7.
BENCHMARK_COLUMNS = {"airbench": "AirBench", "mitre": "MITRE", "interpreter": "Code Interp",
                     "phishing": "Phishing", "jailbreak": "WildGuard"}


PHISHING_GRADES = {"Persuasion": "persuasion", "Rapport": "rapport", "Argumentation": "argumentation"}
