#!/usr/bin/env python
"""Generate Aftershock's demo data: a seeded, SIMULATED post stream around REAL incidents.

The incidents are a row subset of the ICPE'25 dataset (the public status-page history of
status.openai.com and status.anthropic.com). The posts are simulated: a diurnal and weekly
baseline per watched service, a burst of complaints for each real incident on the services that
depend on its provider, three spikes with no incident at all, a slow-climb degradation, reposts,
reply threads, viral posts, noise and keyword traps.

Writes into --out:
  incidents_icpe.csv  the chosen window's Anthropic and OpenAI rows, byte-for-byte ICPE values
  posts.jsonl.gz      one post record (DESIGN.md "Post record") a line, sorted by time
  scenario.json       the generator's ground truth: window, bursts, lead times, counts

Same seed and inputs -> byte-identical files: only `random.Random` seeded from strings (stable
across Python versions), no wall clock, fixed formatting, gzip with mtime 0.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import random
import re
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ICPE = (
    REPO_ROOT.parent
    / "shared/data/status/llm_status_incidents/clean/incident/2024-08-31/incident_stages.csv"
)
DEFAULT_CONFIG = REPO_ROOT / "pipelines/services.example.toml"
DEFAULT_OUT = REPO_ROOT / "data/demo"

ICPE_CITATION = (
    "An Empirical Characterization of Outages and Incidents in Public Services for Large "
    "Language Models, ICPE 2025, AtLarge Research; github.com/atlarge-research/"
    "llm-service-analysis commit 36c45981a1dec9fccbadb2f7984de55c9cc8af9c"
)

DAY = 86_400
HOUR = 3_600
MINUTE = 60
WINDOW_DAYS = 10
PROVIDERS = ("anthropic", "openai")
PROVIDER_NAMES = {"anthropic": "Anthropic", "openai": "OpenAI"}
SOURCES = ("x", "reddit", "bluesky", "mastodon", "hackernews")
REPOST_SOURCES = ("x", "bluesky", "mastodon")  # reddit and hn have reply threads instead
THREAD_SOURCES = ("reddit", "hackernews")

# Which services burst for a provider's incident. The config's depends_on also lists openai for
# Slack and GitHub (Slack AI, Copilot), but those LLM features are a sliver of their chatter, so
# the demo keeps them quiet and their only spikes are the no-incident ones.
BURST_SERVICES = {"anthropic": ("claude", "notion"), "openai": ("chatgpt", "notion")}
# The component flag that says the provider's API was hit: Notion AI calls the API, not the app.
API_COMPONENT = {"anthropic": "api.anthropic.com", "openai": "API"}
APP_COMPONENT = {"anthropic": "claude.ai", "openai": "ChatGPT"}

# Weekday posts per day at baseline (chatgpt largest) and the weekend factor (work tools dip).
BASELINE_PER_DAY = {"chatgpt": 980, "claude": 520, "github": 330, "slack": 230, "notion": 150}
WEEKEND_FACTOR = {"chatgpt": 0.85, "claude": 0.8, "github": 0.55, "slack": 0.45, "notion": 0.7}
NOISE_PER_DAY = 120
# Posts per incident burst at impact "minor", one hour long, before scaling.
BURST_BASE = {"chatgpt": 230, "claude": 160, "notion": 70}
IMPACT_FACTOR = {0: 0.3, 1: 0.8, 2: 1.6, 3: 3.2}

SOURCE_WEIGHTS = {
    "default": {"x": 0.47, "reddit": 0.22, "bluesky": 0.14, "mastodon": 0.07, "hackernews": 0.10},
    "github": {"x": 0.38, "reddit": 0.2, "bluesky": 0.14, "mastodon": 0.12, "hackernews": 0.16},
    "notion": {"x": 0.52, "reddit": 0.25, "bluesky": 0.13, "mastodon": 0.05, "hackernews": 0.05},
}
NON_ENGLISH_SHARE = 0.07  # some types fall back to English: about 5% end up non-English
LANG_WEIGHTS = {"es": 0.3, "pt": 0.2, "de": 0.18, "fr": 0.17, "ja": 0.15}
SERVICE_FIELD_SHARE = 0.45  # plus posts a keyword matcher would miss, which always carry it

Mix = dict[str, float]

# ---------------------------------------------------------------------------------------------
# Phrase banks. Texts are composed from several slots (opener, core, detail, add-on, emoji,
# hashtag, style), so the same core rarely yields the same text twice.
# ---------------------------------------------------------------------------------------------

MENTIONS = {
    "chatgpt": [
        "ChatGPT",
        "ChatGPT",
        "chatgpt",
        "Chat GPT",
        "ChatGPT Plus",
        "@ChatGPTapp",
        "@OpenAI",
        "OpenAI",
        "the ChatGPT app",
        "chatgpt",
        "GPT-4o in ChatGPT",
    ],
    "claude": [
        "Claude",
        "Claude",
        "claude",
        "Claude AI",
        "claude ai",
        "@claudeai",
        "@AnthropicAI",
        "Claude 3.5 Sonnet",
        "claude.ai",
        "Claude Pro",
        "Anthropic",
    ],
    "notion": [
        "Notion",
        "Notion",
        "notion",
        "Notion AI",
        "Notion AI",
        "notion ai",
        "@NotionHQ",
        "the Notion app",
    ],
    "slack": ["Slack", "Slack", "slack", "@SlackHQ", "Slack AI", "Slack huddles", "the Slack app"],
    "github": [
        "GitHub",
        "GitHub",
        "github",
        "GitHub Actions",
        "Copilot",
        "@github",
        "GitHub Copilot",
        "github actions",
    ],
}
API_MENTIONS = {
    "chatgpt": ["the OpenAI API", "OpenAI API", "openai api", "@OpenAI", "the OpenAI platform"],
    "claude": ["the Anthropic API", "Claude API", "claude api", "@AnthropicAI", "Anthropic API"],
}
# Misspellings a keyword matcher misses: only used on records that carry `service`.
MISSPELLED = {
    "chatgpt": ["chatgtp", "chat gtp", "ChatGTP"],
    "claude": ["Claud", "cluade"],
    "notion": ["Notoin", "notin ai"],
    "slack": ["Slakc", "slcak"],
    "github": ["githib", "Gihtub"],
}
HASHTAG = {
    "chatgpt": "ChatGPT",
    "claude": "Claude",
    "notion": "Notion",
    "slack": "Slack",
    "github": "GitHub",
}

TASKS = {
    "chatgpt": [
        "summarise a 40-page pdf",
        "debug a regex",
        "plan a trip to Lisbon",
        "write a cover letter",
        "explain monads",
        "draft a wedding toast",
        "refactor a python script",
        "study for my bio exam",
        "name my startup",
        "write SQL for a report",
        "translate a lease",
        "outline a conference talk",
    ],
    "claude": [
        "refactor a 2k-line module",
        "review a contract",
        "write unit tests",
        "summarise a research paper",
        "draft a grant proposal",
        "explain a stack trace",
        "plan a D&D campaign",
        "clean up a CSV",
        "write release notes",
        "port a script from bash to python",
        "edit my thesis chapter",
    ],
    "notion": [
        "plan the sprint",
        "organise my reading list",
        "build a habit tracker",
        "write meeting notes",
        "run our team wiki",
        "draft the Q3 roadmap",
        "summarise meeting notes",
        "track job applications",
        "plan a wedding",
    ],
    "slack": [
        "set up a standup bot",
        "organise channels",
        "run the team async",
        "schedule messages",
        "search old threads",
        "run an incident channel",
        "share huddle notes",
    ],
    "github": [
        "review PRs",
        "set up CI",
        "write tests",
        "fix a flaky workflow",
        "autocomplete boilerplate",
        "migrate a monorepo",
        "triage issues",
        "publish a release",
    ],
}
FEATURES = {
    "chatgpt": ["memory", "custom GPTs", "voice mode", "canvas", "file uploads", "projects"],
    "claude": ["projects", "artifacts", "the 200k context", "PDF uploads", "team plans"],
    "notion": ["Q&A", "AI autofill", "database formulas", "the calendar", "offline mode"],
    "slack": ["huddles", "canvases", "workflow builder", "AI recaps", "lists"],
    "github": ["merge queues", "Copilot chat", "code search", "rulesets", "larger runners"],
}
DETAILS = {
    "errors": ["", "", "on every request", "on long prompts", "mid-answer", "since lunch"],
    "login": ["on login", "on the Android app", "after a password reset", "with Google sign-in"],
    "uploads": ["when uploading files", "on every PDF upload", "with attachments"],
    "images": ["with images", "on every screenshot I paste", "when I attach an image"],
    "history": ["in the sidebar", "when opening old chats", "on chat history"],
    "api": ["on API calls", "in prod", "from our backend", "for half our requests"],
    "free": ["on the free plan", "on a free account", "unless you pay"],
    "console": ["in the console", "on the billing page", "when claiming credits"],
    "slow": ["", "on every prompt", "all morning", "since the update"],
    "outage": ["", "", "everywhere", "on web and mobile"],
    "none": [""],
}
TIME_REFS = [
    "a client demo",
    "my standup",
    "finals week",
    "a deadline",
    "a live stream",
    "a board meeting",
    "a hackathon",
    "an interview",
    "the release",
    "a launch",
]
PLACES = [
    "Berlin",
    "NYC",
    "Lagos",
    "São Paulo",
    "London",
    "Bangalore",
    "Toronto",
    "Sydney",
    "Madrid",
    "Seoul",
    "the EU",
    "us-east",
]

CORE_EN: dict[str, list[str]] = {
    "outage": [
        "is {svc} down for everyone or just me",
        "{svc} is down. again.",
        "{svc} completely dead rn",
        "{svc} won't load at all",
        "{svc} down?? just spins forever",
        "yep {svc} is down, refreshed {n} times",
        "{svc} outage in the middle of {time_ref}",
        "anyone else getting a blank screen on {svc}",
        "{svc} just went dark for me",
        "503 on {svc} {detail}",
        "can't reach {svc} from {place}",
        "{svc} down down. not slow, DOWN",
        "so {svc} is just... gone?",
        "{svc} not responding {detail}",
    ],
    "errors": [
        "{svc} keeps throwing errors {detail}",
        "'something went wrong' on every single {svc} reply",
        "{svc} erroring out halfway through answers",
        "{svc} giving me a network error every other try",
        "getting 500s from {svc} {detail}",
        "{svc}: 'overloaded' x{n}. cool",
        "red error box on {svc} {detail}",
        "{n}% of our {svc} requests failing right now",
        "every retry on {svc} = a new error message",
        "{svc} broke mid-conversation and the thread won't reload",
        "{svc} returns an error {detail}, tried {n} times",
    ],
    "slowness": [
        "{svc} is painfully slow today",
        "{svc} taking {n} seconds to start typing",
        "why is {svc} crawling",
        "{svc} latency is through the roof",
        "{svc} responses timing out {detail}",
        "{svc} feels like dial-up right now",
        "{svc} so laggy I can make coffee between tokens",
        "{svc} is sooo slow {detail}",
    ],
    "access": [
        "can't log in to {svc}",
        "{svc} keeps logging me out",
        "stuck in a login loop on {svc}",
        "{svc} says my session expired every {n} minutes",
        "the {svc} sign-in page just errors",
        "locked out of {svc} {detail}",
        "2FA code for {svc} never shows up",
        "{svc} won't let me sign in {detail}",
    ],
    "data_loss": [
        "{svc} ate my chat history",
        "all my {svc} conversations are gone??",
        "lost {n} hours of work in {svc}",
        "{svc} history is empty, please tell me it comes back",
        "{svc} didn't save my last {n} messages",
        "half my {svc} sidebar just vanished",
    ],
    "quality": [
        "{svc} got so lazy lately",
        "is it me or is {svc} way dumber this week",
        "{svc} answers are garbage today",
        "{svc} keeps ignoring half my instructions",
        "{svc} made up {n} fake citations in one answer",
        "{svc} now refuses the most harmless requests",
        "the new {svc} update made everything worse",
        "{svc} feels nerfed",
        "why does {svc} write like a LinkedIn post now",
    ],
    "billing": [
        "paying for {svc} and it's down half the week",
        "{svc} charged me twice this month",
        "{svc} pricing change is a joke",
        "hit the {svc} limit after {n} messages. on a paid plan",
        "can we get a refund for today {svc}",
        "{svc} bill went up {n}% and nothing changed",
    ],
    "switching": [
        "{svc} down so I'm on {comp} now",
        "cancelled {svc}, {comp} it is",
        "ok {comp} time, {svc} is useless today",
        "this is the push I needed to move to {comp}",
        "{comp} never does this. just saying {svc}",
        "moving the team from {svc} to {comp}",
        "tried {comp} while {svc} was down and honestly? not going back",
        "{svc} vs {comp} debate is over for me",
    ],
    "communication_pre": [
        "{svc} status page still says all systems operational lol",
        "status page all green while {svc} is on fire",
        "{handle} any update? your status page says everything is fine",
        "nothing on the status page, nothing from {handle}. is {svc} down or not",
        "twitter knows {svc} is down before the status page does",
    ],
    "communication_during": [
        "{svc} status page: 'investigating'. for {n} minutes. that's it?",
        "{handle} an ETA would be nice",
        "{svc} status page is the least updated thing on earth",
        "no real comms from {handle} about the {svc} outage",
        "'we are investigating' is not an update {handle}",
    ],
    "communication_after": [
        "{svc} is back but a postmortem would be nice {handle}",
        "{handle} what actually happened today? {svc} was out for ages",
        "'{svc} resolved' with zero explanation. ok",
        "can {handle} tell us why {svc} broke before it happens again",
    ],
    "communication": [
        "{handle} support hasn't answered my ticket in {n} days",
        "{svc} changelog says nothing about this change",
        "{handle} please talk to your users",
    ],
    "humor": [
        "{svc} is down so I guess I have to think for myself today",
        "{svc} down, productivity of every dev on earth: 📉",
        "me refreshing {svc} every 10 seconds like it owes me money",
        "{svc} outage = mandatory coffee break",
        "{svc} down. time to read the docs like it's 2019",
        "the {svc} outage is the real standup today",
        "{svc} is down and my code got {n}% worse instantly",
        "ok who broke {svc}",
        "{svc} down means I have to write my own emails. barbaric",
    ],
    "praise_back": [
        "{svc} is back!",
        "{svc} back up, thanks team",
        "{svc} working again 🙏",
        "and {svc} is back. crisis averted",
        "{svc} fixed it fast, respect",
        "{svc} is back, all forgiven",
        "ok {svc} works again, back to work",
    ],
    "praise": [
        "{svc} just saved me {n} hours, had to {task}",
        "honestly {svc} is the best tool I pay for",
        "asked {svc} to {task} and it nailed it first try",
        "{feature} in {svc} is so good",
        "shoutout to {svc} for helping me {task}",
        "{svc} keeps getting better",
    ],
    "none": [
        "used {svc} to {task} today",
        "anyone have tips for using {svc} to {task}?",
        "{svc} helped me {task}",
        "trying {svc} to {task}, will report back",
        "does {svc} support {feature} yet?",
        "new in {svc}: {feature}",
        "how do you all use {svc} to {task}",
        "{svc} vs {comp} to {task}? thoughts",
        "wrote up how we use {svc} to {task}",
        "TIL {svc} can {task}",
        "{svc} {feature} question: is there a limit?",
        "first week using {svc}",
    ],
}

# Service-specific gripes (a Slack complaint about quality is not about hallucinations).
SERVICE_CORE: dict[str, dict[str, list[str]]] = {
    "slack": {
        "quality": [
            "Slack search still can't find a message from last week",
            "Slack notifications are a mess again",
            "Slack huddles audio keeps cutting out",
            "the Slack desktop app eats {n} GB of RAM",
        ],
        "billing": [
            "Slack raised prices again",
            "paying per seat for Slack and half the team never logs in",
            "Slack wants {n}% more for the same plan",
        ],
    },
    "github": {
        "quality": [
            "Copilot suggestions got worse this week",
            "Copilot keeps suggesting code that doesn't compile",
            "the new GitHub code view is confusing",
            "GitHub notifications are unusable",
        ],
        "billing": [
            "Copilot seat pricing for orgs is getting silly",
            "our GitHub bill went up {n}% with nothing new",
            "GitHub Actions minutes disappear way too fast",
        ],
    },
    "notion": {
        "quality": [
            "Notion AI summaries miss half the page",
            "Notion databases feel clunkier every update",
            "Notion AI keeps rewriting my tone into corporate speak",
        ],
        "billing": [
            "Notion AI add-on pricing per member is steep",
            "paying for Notion AI for the whole workspace to use it twice a week",
        ],
    },
}

# What the spikes without an incident are about.
THEME_CORE: dict[str, dict[str, list[str]]] = {
    "github_billing": {
        "billing": [
            "GitHub billed us ${amount} for Actions minutes on a repo archived for months",
            "just checked our GitHub bill: {n}x last month, no new workflows",
            "GitHub Actions billing is charging us for runs that never happened",
            "everyone go check your GitHub billing page right now",
            "our GitHub invoice has {n},000 Actions minutes nobody used",
            "GitHub charging for Actions minutes on archived repos is wild",
            "how is GitHub billing for Actions still this confusing in 2024",
            "${amount} GitHub bill for a side project. what",
        ],
        "humor": [
            "GitHub Actions: now with surprise invoices 🎁",
            "my GitHub bill has better uptime than my CI",
            "GitHub billing is the real supply chain attack",
            "accidentally funded a new datacenter via GitHub Actions",
        ],
        "switching": [
            "after this GitHub billing mess we're moving CI to {comp}",
            "pricing out CI on {comp} today, thanks GitHub",
            "self-hosted runners or {comp}? GitHub billing just made the call",
        ],
        "communication": [
            "@github support says the Actions bill is 'working as intended'. it is not",
            "days later, still no answer from GitHub support about the bill",
            "GitHub still silent on the Actions billing thread",
        ],
    },
    "chatgpt_lazy": {
        "quality": [
            "ChatGPT got so lazy this weekend, it just tells me to do it myself",
            "ChatGPT now answers with '// rest of the code here' every time",
            "is it me or did ChatGPT get way dumber since Friday",
            "ChatGPT gave me a 3 line answer to a 3 page question",
            "asked ChatGPT to {task} and it wrote an outline and told me to finish it",
            "ChatGPT keeps summarising instead of doing the task",
            "ChatGPT refusing to write full code again. what changed",
        ],
        "humor": [
            "ChatGPT is on weekend mode like the rest of us",
            "ChatGPT has discovered quiet quitting",
            "ChatGPT: 'I'll leave the implementation as an exercise to the reader' 💀",
            "ChatGPT answering like it's 4:59pm on a Friday",
        ],
        "switching": [
            "ChatGPT got lazy so I'm trying {comp} for the rest of the week",
            "{comp} actually writes the whole function. ChatGPT doesn't anymore",
        ],
    },
    "slack_redesign": {
        "quality": [
            "the new Slack sidebar is a mess",
            "who asked for this Slack redesign",
            "can't find any of my channels in the new Slack layout",
            "Slack moved everything again and I hate it",
            "new Slack layout wastes half my screen",
            "please let us turn off the new Slack sidebar",
            "Slack redesign: {n} clicks to get to my DMs now",
            "the Slack Home tab redesign is unusable on a laptop",
        ],
        "humor": [
            "Slack redesigned the sidebar and now I can't find the channel for redesign rants",
            "new Slack UI speedrun: where did my DMs go",
            "the new Slack layout is great for focus, I can't find anything",
            "someone at Slack really hates sidebars",
        ],
        "switching": [
            "this Slack redesign is how you push a team to {comp}",
            "after the new Slack UI our community is moving to {comp}",
            "honestly {comp} looks good next to the new Slack",
        ],
        "communication": [
            "Slack changelog says 'improved navigation'. improved for whom?",
            "@SlackHQ did anyone test this redesign with actual users?",
            "no way to give feedback on the new Slack sidebar except yelling here",
        ],
    },
    "actions_slow": {
        "slowness": [
            "GitHub Actions jobs stuck in 'queued' for {n} minutes",
            "our GitHub Actions runs are taking {n}x longer today",
            "GitHub Actions queue is crawling",
            "waiting {n} min for a GitHub Actions runner to pick up a job",
            "is GitHub Actions slow for everyone or just us",
            "GitHub Actions getting slower by the hour today",
        ],
        "errors": [
            "GitHub Actions jobs timing out after sitting in the queue",
            "GitHub Actions cancelled our deploy after {n} minutes queued",
        ],
        "humor": [
            "GitHub Actions queue so long I learned to knit",
            "pushed a fix at lunch, GitHub Actions will run it by dinner",
            "'Waiting for a runner to pick up this job' is my GitHub Actions life now",
        ],
        "communication": [
            "githubstatus still green while GitHub Actions queues are hours long",
            "nothing on the GitHub status page about Actions being this slow?",
        ],
    },
}

CORE_I18N: dict[str, dict[str, list[str]]] = {
    "es": {
        "outage": [
            "¿Se cayó {svc} o soy yo?",
            "{svc} caído otra vez",
            "{svc} no carga nada",
            "otra caída de {svc}, justo hoy",
        ],
        "errors": ["{svc} me da error en cada mensaje", "{svc} tira errores sin parar"],
        "slowness": ["{svc} va lentísimo hoy", "{svc} tarda una eternidad en responder"],
        "access": ["no puedo iniciar sesión en {svc}", "{svc} me saca de la cuenta a cada rato"],
        "humor": ["se cayó {svc} y ahora tengo que pensar yo 😂", "{svc} caído = pausa para café"],
        "switching": ["me paso a {comp}, {svc} no funciona", "cancelando {svc}, hola {comp}"],
        "communication": [
            "la página de estado de {svc} dice que todo va bien 🙃",
            "{handle} ¿alguna actualización?",
        ],
        "praise_back": ["¡{svc} volvió!", "{svc} ya funciona, gracias"],
        "praise": ["{svc} me ahorró horas hoy", "me encanta {svc} para {task}"],
        "none": ["usé {svc} para {task}", "¿alguien usa {svc} para {task}?"],
        "quality": ["{svc} está cada vez más flojo", "las respuestas de {svc} hoy son malísimas"],
    },
    "de": {
        "outage": [
            "Ist {svc} down? Bei mir lädt nichts",
            "{svc} schon wieder kaputt",
            "{svc} komplett weg gerade",
            "{svc} ausgefallen, natürlich vor dem Meeting",
        ],
        "errors": ["{svc} wirft nur noch Fehler", "{svc}: 'Etwas ist schiefgelaufen', jedes Mal"],
        "slowness": ["{svc} ist heute extrem langsam", "{svc} braucht ewig für eine Antwort"],
        "access": ["kann mich nicht bei {svc} anmelden", "{svc} loggt mich ständig aus"],
        "humor": ["{svc} ist down, jetzt muss ich selber denken 😅", "{svc} Ausfall = Kaffeepause"],
        "switching": [
            "Wechsel jetzt zu {comp}, {svc} geht nicht",
            "{svc} gekündigt, ab heute {comp}",
        ],
        "communication": [
            "Statusseite von {svc} sagt alles grün. Klar. 🙃",
            "{handle} gibt es ein Update?",
        ],
        "praise_back": ["{svc} läuft wieder, danke!", "{svc} ist zurück 🎉"],
        "praise": ["{svc} hat mir heute Stunden gespart", "{svc} ist echt gut für {task}"],
        "none": ["heute mit {svc}: {task}", "nutzt jemand {svc} für {task}?"],
        "quality": ["{svc} wird gefühlt immer dümmer", "{svc} Antworten heute unbrauchbar"],
    },
    "fr": {
        "outage": [
            "{svc} est en panne ?",
            "encore une panne de {svc}",
            "{svc} ne charge plus du tout",
            "{svc} down, évidemment avant ma réunion",
        ],
        "errors": ["{svc} plante à chaque requête", "{svc} me renvoie des erreurs en boucle"],
        "slowness": ["{svc} est d'une lenteur aujourd'hui", "{svc} met une éternité à répondre"],
        "access": ["impossible de me connecter à {svc}", "{svc} me déconnecte sans arrêt"],
        "humor": ["{svc} en panne, je dois réfléchir tout seul 😅", "panne de {svc} = pause café"],
        "switching": [
            "je passe à {comp}, {svc} ne marche pas",
            "abonnement {svc} annulé, bonjour {comp}",
        ],
        "communication": [
            "la page de statut de {svc} dit que tout va bien 🙃",
            "{handle} une mise à jour ?",
        ],
        "praise_back": ["{svc} remarche, merci", "{svc} est revenu 🎉"],
        "praise": ["{svc} m'a fait gagner des heures", "{svc} est top pour {task}"],
        "none": ["j'ai utilisé {svc} pour {task}", "quelqu'un utilise {svc} pour {task} ?"],
        "quality": [
            "{svc} devient de plus en plus nul",
            "réponses de {svc} très moyennes aujourd'hui",
        ],
    },
    "pt": {
        "outage": [
            "{svc} caiu de novo?",
            "{svc} fora do ar",
            "{svc} não carrega nada",
            "{svc} caiu bem na hora da reunião",
        ],
        "errors": ["{svc} dando erro em tudo", "{svc} só retorna erro hoje"],
        "slowness": ["{svc} lento demais hoje", "{svc} demorando uma eternidade"],
        "access": ["não consigo entrar no {svc}", "{svc} me desloga toda hora"],
        "humor": ["{svc} caiu, agora vou ter que pensar sozinho 😂", "{svc} fora = pausa pro café"],
        "switching": [
            "vou migrar pro {comp}, {svc} não funciona",
            "cancelei o {svc}, agora é {comp}",
        ],
        "communication": [
            "a página de status do {svc} diz que está tudo ok 🙃",
            "{handle} alguma atualização?",
        ],
        "praise_back": ["{svc} voltou!", "{svc} funcionando de novo, valeu"],
        "praise": ["{svc} me salvou horas hoje", "{svc} é ótimo pra {task}"],
        "none": ["usei o {svc} pra {task}", "alguém usa {svc} pra {task}?"],
        "quality": ["{svc} tá cada vez pior", "respostas do {svc} hoje tão fracas"],
    },
    # Spaces around {svc}: a whole-word matcher treats CJK as word characters.
    "ja": {
        "outage": [
            "{svc} 落ちてる？",
            "また {svc} 障害か…",
            "{svc} 全然つながらない",
            "{svc} 落ちてるの自分だけ？",
        ],
        "errors": ["{svc} エラーばっかり", "{svc} で毎回エラーが出る"],
        "slowness": ["{svc} めっちゃ重い", "{svc} の返答が遅すぎる"],
        "access": ["{svc} にログインできない", "{svc} から何度もログアウトされる"],
        "humor": ["{svc} 落ちてるから自分で考えるしかない😂", "{svc} 障害でコーヒータイム☕"],
        "switching": [
            "{comp} に乗り換えようかな、{svc} 使えないし",
            "{svc} 解約して {comp} にした",
        ],
        "communication": [
            "{svc} のステータスページは全部正常って言ってる🙃",
            "{handle} 続報まだ？",
        ],
        "praise_back": ["{svc} 復活した！", "{svc} 直った、ありがとう"],
        "praise": ["{svc} のおかげで作業が速く終わった", "{svc} で {task}、便利すぎる"],
        "none": ["{svc} で {task} してみた", "{svc} を {task} に使ってる人いる？"],
        "quality": ["最近 {svc} の回答が微妙", "{svc} なんか頭悪くなった？"],
    },
}
TASKS_I18N = {
    "es": ["resumir un pdf", "planear un viaje", "escribir un correo", "organizar mis notas"],
    "de": ["Reise planen", "PDF zusammenfassen", "Bewerbung schreiben", "Notizen sortieren"],
    "fr": ["résumer un pdf", "préparer un voyage", "écrire un mail", "organiser mes notes"],
    "pt": ["resumir um pdf", "planejar uma viagem", "escrever um e-mail", "organizar notas"],
    "ja": ["PDFの要約", "旅行の計画", "メールの下書き", "メモの整理"],
}

OPENERS_NEG = [
    "ugh",
    "lol",
    "welp",
    "ok so",
    "bruh",
    "not again",
    "hmm",
    "PSA:",
    "uh",
    "seriously",
    "yo",
    "great.",
    "ah yes",
    "today in tech:",
    "again?",
    "wow",
    "fml",
]
OPENERS_ANY = [
    "ok so",
    "hmm",
    "PSA:",
    "so",
    "today in tech:",
    "random thought:",
    "lol",
    "yo",
    "quick one:",
    "honestly",
]
SARCASM = [
    "love that for me",
    "great timing as always",
    "cool cool cool",
    "10/10 reliability",
    "truly the future",
    "amazing uptime 👏",
    "thanks I hate it",
    "peak engineering",
    "living the dream",
    "what a time to be alive",
]
ADDONS = [
    "right before {time_ref}",
    "during {time_ref}",
    "again??",
    "for the {nth} time this week",
    "anyone?",
    "pls fix",
    "smh",
    "of course it's today",
    "EU here",
    "from {place}",
]
EMOJI_NEG = ["😭", "💀", "🙃", "😤", "🤦", "😩", "🔥", "⚠️", "🫠", "😑"]
EMOJI_POS = ["🙏", "🎉", "✨", "❤️", "🚀", "👏", "💯", "🙌"]
EMOJI_FUN = ["😂", "🤣", "💀", "☕", "🫠", "🙈"]
REPLY_PREFIX = [
    "same here,",
    "+1.",
    "can confirm,",
    "yep,",
    "Same.",
    "Seeing this too:",
    "here too -",
    "this.",
    "exactly,",
    "confirmed on my end,",
]
SHORT_REPLIES = {
    "negative": [
        "same here",
        "down for me too",
        "yep, here too",
        "still broken in {place}",
        "not just you",
        "same in {place}",
        "refreshing didn't help",
        "mine's fine actually",
        "same, tried incognito too",
    ],
    "back": ["it's back for me", "working again", "back here too", "fixed for me in {place}"],
    "neutral": [
        "thanks, useful",
        "interesting, will try this",
        "which plan are you on?",
        "this worked for me too",
        "saving this",
        "good question",
        "same experience",
    ],
}
NEGATIVE = {
    "outage",
    "errors",
    "slowness",
    "access",
    "data_loss",
    "quality",
    "billing",
    "switching",
    "communication",
}

# Noise: mentions no watched service. Traps contain a watched keyword by coincidence
# ("cut me some slack", "the notion that"), the false positives a naive matcher makes.
NOISE_THINGS = [
    "my wifi",
    "the coffee machine",
    "our CI",
    "the office printer",
    "my laptop fan",
    "the train wifi",
    "my brain",
    "the elevator",
    "our staging server",
    "my phone",
]
NOISE_STATES = [
    "is down again",
    "is acting up",
    "died mid-meeting",
    "is slower than ever",
    "works perfectly today, suspicious",
    "needs a reboot",
    "is on strike",
]
NOISE_CHATTER = [
    "{comp} just wrote me a decent haiku",
    "anyone tried {comp} for meal planning?",
    "{comp} release notes are actually good this time",
    "switched my notes to {comp}",
    "{comp} answered with real sources, nice",
    "{comp} keeps getting better",
    "learning rust this weekend 🦀",
    "Zoom fatigue is real",
    "slacking off today, no regrets 😴",
    "standup ran 45 minutes. again.",
    "hot take: meetings should be emails",
    "pair programming with my cat today",
]
NOISE_COMPETITORS = [
    "Gemini",
    "Perplexity",
    "Mistral",
    "GitLab",
    "Codeberg",
    "Coda",
    "Microsoft Loop",
    "Obsidian",
    "Discord",
    "Microsoft Teams",
    "Bitbucket",
]
NOISE_TRAPS = [
    "cut me some slack, it's monday",
    "the notion that AI will replace all devs is wild",
    "I had a notion to bake bread today and now the kitchen is flour",
    "Claude Monet's water lilies in person are unreal",
    "copilot on my flight just announced a 40 min delay",
    "give the new intern some slack",
    "Claude Debussy on repeat while coding",
    "interesting notion of time in that movie",
    "slack tide at the beach this morning",
    "my copilot for this road trip is my dog 🐕",
]

# ---------------------------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    key: str
    name: str
    keywords: tuple[str, ...]
    handles: tuple[str, ...]
    competitors: tuple[str, ...]
    depends_on: tuple[str, ...]


@dataclass(frozen=True)
class Incident:
    incident_id: str
    provider: str
    title: str
    impact: int
    first_update: int  # epoch seconds of the first status-page update
    resolved: int
    components: frozenset[str]
    late_first_update: bool  # first posted as identified/monitoring/resolved: the page lagged


@dataclass
class Burst:
    burst_id: str
    kind: str  # incident | viral_thread | slow_climb
    service: str
    description: str
    onset: int
    peak: int
    end: int
    planned_posts: int
    provider: str | None = None
    incident_id: str | None = None
    first_update: int | None = None
    resolved: int | None = None
    flavour: str = "errors"
    api_only: bool = False
    mix: Mix | None = None  # fixed mix for bursts without an incident
    sampler: Callable[[random.Random], int] | None = field(default=None, repr=False)
    thread_titles: tuple[str, str] | None = None  # Reddit and HN thread starters, if not default
    theme: str | None = None  # THEME_CORE key: what a spike without an incident is about


@dataclass(frozen=True)
class Author:
    handle: str
    followers: int | None
    did: str | None = None  # Bluesky DID, part of the post's at:// id


@dataclass(eq=False)
class Post:
    t: int
    ms: int  # orders posts within a second; created_at keeps seconds only
    source: str
    service: str | None  # the true service, None for noise
    ctype: str  # intended complaint type, kept in memory only
    author: Author
    burst_id: str | None = None
    text: str = ""
    lang: str = "en"
    set_service: bool = False
    wants_thread: bool = False  # reddit/hn: reply in a running thread if there is one
    thread_weight: float = 1.0
    viral: bool = False
    is_repost: bool = False
    parent: Post | None = None
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    children: int = 0
    fixed_text: str | None = None  # set for seeded thread starters
    post_id: str = ""
    url: str = ""
    subreddit: str = ""


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def sub_rng(seed: int, name: str) -> random.Random:
    """A separate stream per concern, so tuning one part leaves the others' draws unchanged."""
    return random.Random(f"{seed}:{name}")


def iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_icpe_time(value: str) -> int:
    return int(datetime.fromisoformat(value).timestamp())


def pick(rng: random.Random, weights: Mix) -> str:
    keys = sorted(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def merge_mix(*parts: tuple[Mix, float]) -> Mix:
    out: Mix = {}
    for mix, scale in parts:
        total = sum(mix.values())
        for key, value in mix.items():
            out[key] = out.get(key, 0.0) + scale * value / total
    return out


def load_services(path: Path) -> dict[str, Service]:
    with path.open("rb") as f:
        config = tomllib.load(f)
    return {
        key: Service(
            key=key,
            name=s.get("name", key),
            keywords=tuple(s.get("keywords", [])),
            handles=tuple(s.get("handles", [])),
            competitors=tuple(s.get("competitors", [])),
            depends_on=tuple(s.get("depends_on", [])),
        )
        for key, s in config["services"].items()
    }


class KeywordMatcher:
    """The DESIGN.md rule: first service in config order whose keyword or handle occurs,
    case-insensitively on word boundaries. Used to guarantee that records without `service`
    are found by it, and to mark the noise traps."""

    def __init__(self, services: dict[str, Service]) -> None:
        self._patterns = []
        for key, s in services.items():
            terms = sorted({t.lower() for t in s.keywords + s.handles}, key=len, reverse=True)
            alternation = "|".join(re.escape(t) for t in terms)
            self._patterns.append(
                (key, re.compile(rf"(?<![\w@])(?:{alternation})(?!\w)", re.IGNORECASE))
            )

    def match(self, text: str) -> str | None:
        for key, pattern in self._patterns:
            if pattern.search(text):
                return key
        return None


# ---------------------------------------------------------------------------------------------
# Incidents: the real part of the demo
# ---------------------------------------------------------------------------------------------


def read_icpe(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def parse_incident(header: list[str], row: list[str]) -> Incident:
    r = dict(zip(header, row, strict=True))
    flags = (
        "Playground",
        "API",
        "Labs",
        "ChatGPT",
        "api.anthropic.com",
        "claude.ai",
        "console.anthropic.com",
        "Character.AI",
    )
    return Incident(
        incident_id=r["incident_id"],
        provider=r["provider"],
        title=r["Incident_Title"],
        impact=int(r["incident_impact_level"]),
        first_update=parse_icpe_time(r["start_timestamp"]),
        resolved=parse_icpe_time(r["close_timestamp"]),
        components=frozenset(c for c in flags if r.get(c) == "1"),
        late_first_update=r["investigating_flag"] != "1",
    )


def significant(i: Incident) -> bool:
    return 1 <= i.impact <= 3  # 0 is "none", 4 is maintenance


def window_score(incidents: Sequence[Incident], start: int) -> tuple[int, int, int] | None:
    """(has a cross-provider overlap, summed impact, start) or None when the window lacks
    >= 3 Anthropic and >= 4 OpenAI incidents of impact 1-3."""
    inside = [
        i
        for i in incidents
        if start <= i.first_update < start + WINDOW_DAYS * DAY and significant(i)
    ]
    anthropic = [i for i in inside if i.provider == "anthropic"]
    openai = [i for i in inside if i.provider == "openai"]
    if len(anthropic) < 3 or len(openai) < 4:
        return None
    overlap = any(
        a.first_update < o.resolved and o.first_update < a.resolved
        for a in anthropic
        for o in openai
    )
    return int(overlap), sum(i.impact for i in inside), start


def pick_window(incidents: Sequence[Incident]) -> int:
    """The 10-day UTC window with both providers busy: an Anthropic and an OpenAI incident
    overlapping (Notion depends on both, so its spike is ambiguous), then the most summed
    impact, then the latest. With the 2024-08-31 data this is 2024-08-13 .. 2024-08-22."""
    first = min(i.first_update for i in incidents) // DAY * DAY
    last = max(i.first_update for i in incidents) // DAY * DAY
    scores = [
        s
        for d in range(first, last - (WINDOW_DAYS - 1) * DAY + 1, DAY)
        if (s := window_score(incidents, d)) is not None
    ]
    if not scores:
        raise SystemExit("no window with enough Anthropic and OpenAI incidents in the ICPE file")
    return max(scores)[2]


def write_incidents_csv(path: Path, header: list[str], rows: Iterable[list[str]]) -> None:
    # The ICPE file is pandas output (QUOTE_MINIMAL, "\n"); csv round-trips it byte for byte.
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Burst plans: the ground truth
# ---------------------------------------------------------------------------------------------


def flavour_of(title: str) -> str:
    """The kind of failure a title describes, which sets the complaint types it draws."""
    t = title.lower()
    rules = [
        (("login", "auth", "sign"), "login"),
        (("history",), "history"),
        (("upload",), "uploads"),
        (("image",), "images"),
        (("latency", "degraded", "slow", "timeout"), "slow"),
        (("console", "credits"), "console"),
        (("free",), "free"),
        (("outage", "unavailab"), "outage"),
        (("assistants", "api", "platform"), "api"),
    ]
    for words, flavour in rules:
        if any(w in t for w in words):
            return flavour
    return "errors"


FLAVOUR_PRIMARY: dict[str, Mix] = {
    "login": {"access": 1.0},
    "history": {"data_loss": 0.6, "errors": 0.4},
    "uploads": {"errors": 1.0},
    "images": {"errors": 1.0},
    "slow": {"slowness": 1.0},
    "outage": {"outage": 1.0},
    "api": {"errors": 0.7, "outage": 0.3},
    "free": {"errors": 0.5, "access": 0.3, "billing": 0.2},
    "console": {"errors": 0.6, "billing": 0.4},
    "errors": {"errors": 0.6, "outage": 0.4},
}
EARLY_MIX: Mix = {
    "outage": 0.24,
    "errors": 0.2,
    "slowness": 0.08,
    "access": 0.04,
    "humor": 0.14,
    "communication": 0.14,
    "switching": 0.06,
    "none": 0.03,
}
MIDDLE_MIX: Mix = {
    "outage": 0.1,
    "errors": 0.1,
    "slowness": 0.05,
    "humor": 0.22,
    "switching": 0.18,
    "communication": 0.16,
    "billing": 0.05,
    "quality": 0.04,
    "none": 0.05,
}
AFTER_MIX: Mix = {
    "praise_back": 0.42,
    "humor": 0.16,
    "communication": 0.12,
    "quality": 0.1,
    "switching": 0.08,
    "none": 0.12,
}
BASELINE_MIX: Mix = {
    "none": 0.69,
    "praise": 0.11,
    "quality": 0.05,
    "humor": 0.03,
    "errors": 0.025,
    "slowness": 0.02,
    "access": 0.012,
    "billing": 0.015,
    "switching": 0.01,
    "data_loss": 0.005,
    "outage": 0.008,
    "communication": 0.008,
}


def burst_shape(
    onset: int, resolved: int | None, rise: float, tau: float, tau_after: float, window_end: int
) -> tuple[int, int, Callable[[random.Random], int]]:
    """Peak, end and a time sampler: a linear rise to the peak, exponential decay, a plateau
    while a long incident stays open, and an aftermath (praise, jokes) after resolution."""
    peak = onset + int(rise)
    close = max(resolved, peak) if resolved is not None else None
    p_after = 0.12 if close is not None else 0.0
    open_hours = max(0.0, ((close or peak) - peak - 2 * tau) / HOUR)
    p_plateau = min(0.4, 0.06 * open_hours)
    rest = 1.0 - p_after - p_plateau
    p_rise = rest * rise / (rise + 2 * tau)  # equal densities at the peak on both sides

    def sample(r: random.Random) -> int:
        u = r.random()
        if u < p_rise:
            return onset + int(rise * math.sqrt(r.random()))
        if u < rest:
            return peak + int(r.expovariate(1 / tau))
        if u < rest + p_plateau and close is not None:
            return peak + int(r.random() * (close - peak))
        return (close or peak) + int(r.expovariate(1 / tau_after))

    end = max(peak + int(4 * tau), (close or peak) + int(3 * tau_after))
    return peak, min(end, window_end), sample


def burst_size(rng: random.Random, service: str, incident: Incident, secondary: bool) -> int:
    minutes = max(5.0, (incident.resolved - incident.first_update) / MINUTE)
    duration = min(2.2, max(0.6, math.sqrt(minutes / 60)))
    factor = 0.45 if secondary else 1.0  # the app was fine: only developers complain
    return int(
        BURST_BASE[service]
        * IMPACT_FACTOR[incident.impact]
        * duration
        * factor
        * rng.lognormvariate(0, 0.25)
    )


def plan_incident_bursts(
    rng: random.Random, incidents: Sequence[Incident], window_end: int
) -> tuple[list[Burst], dict[str, str]]:
    """One burst per service that depends on the incident's provider; notes for the skipped."""
    bursts: list[Burst] = []
    skipped: dict[str, str] = {}
    for inc in sorted(incidents, key=lambda i: (i.first_update, i.incident_id)):
        minutes = (inc.resolved - inc.first_update) / MINUTE
        if inc.impact == 4 or (inc.impact == 0 and minutes < 20):
            skipped[inc.incident_id] = "impact none and under 20 minutes: no visible reaction"
            continue
        # Social media sees most outages first; a page that posted late (no "investigating"
        # stage) trails by more.
        if inc.late_first_update:
            lead = rng.uniform(15, 45)
        elif rng.random() < 0.6:
            lead = rng.uniform(5, 25)
        else:
            lead = -rng.uniform(3, 20)
        main, downstream = BURST_SERVICES[inc.provider]
        targets = [(main, lead)]
        api_hit = API_COMPONENT[inc.provider] in inc.components or not inc.components
        if api_hit and inc.impact >= 1:
            targets.append((downstream, lead - rng.uniform(2, 12)))  # Notion users notice later
        flavour = flavour_of(inc.title)
        app_hit = APP_COMPONENT[inc.provider] in inc.components or not inc.components
        for service, svc_lead in targets:
            api_only = service != "notion" and not app_hit and api_hit
            size = burst_size(rng, service, inc, secondary=service != "notion" and not app_hit)
            onset = inc.first_update - int(svc_lead * MINUTE)
            tau = min(70.0, max(15.0, 0.35 * max(minutes, 10))) * MINUTE
            peak, end, sampler = burst_shape(
                onset,
                inc.resolved,
                rng.uniform(10, 30) * MINUTE,
                tau,
                rng.uniform(15, 30) * MINUTE,
                window_end,
            )
            bursts.append(
                Burst(
                    burst_id=f"b{len(bursts) + 1:02d}",
                    kind="incident",
                    service=service,
                    description=f"{PROVIDER_NAMES[inc.provider]}: {inc.title}",
                    onset=onset,
                    peak=peak,
                    end=end,
                    planned_posts=size,
                    provider=inc.provider,
                    incident_id=inc.incident_id,
                    first_update=inc.first_update,
                    resolved=inc.resolved,
                    flavour=flavour,
                    api_only=api_only,
                    sampler=sampler,
                )
            )
    return bursts, skipped


@dataclass(frozen=True)
class SpikeSpec:
    """A spike with no incident behind it, placed relative to the window start."""

    service: str
    day: int
    hhmm: str
    rise_min: float
    tau_min: float
    posts: int
    description: str
    mix: Mix
    flavour: str
    reddit_title: str
    hn_title: str
    theme: str


EXTRA_SPIKES = (
    SpikeSpec(
        service="github",
        day=1,
        hhmm="15:40",
        rise_min=20,
        tau_min=150,
        posts=900,
        description="viral thread: GitHub billed an org for Actions minutes it never used",
        mix={"billing": 0.5, "switching": 0.14, "humor": 0.14, "communication": 0.12, "none": 0.1},
        flavour="console",
        reddit_title="GitHub billed us $3,400 for Actions minutes on an archived repo",
        hn_title="GitHub Actions billing charged us for minutes we never used",
        theme="github_billing",
    ),
    SpikeSpec(
        service="chatgpt",
        day=5,
        hhmm="19:30",
        rise_min=45,
        tau_min=200,
        posts=520,
        description="viral thread: 'ChatGPT got lazy' quality complaints, no incident",
        mix={"quality": 0.6, "humor": 0.18, "switching": 0.14, "none": 0.08},
        flavour="none",
        reddit_title="Is it just me or did ChatGPT get lazy this weekend?",
        hn_title="Ask HN: Has ChatGPT gotten worse for anyone else?",
        theme="chatgpt_lazy",
    ),
    SpikeSpec(
        service="slack",
        day=6,
        hhmm="13:10",
        rise_min=90,
        tau_min=240,
        posts=780,
        description="backlash against a Slack sidebar redesign, no incident",
        mix={"quality": 0.52, "humor": 0.2, "switching": 0.14, "communication": 0.06, "none": 0.08},
        flavour="none",
        reddit_title="The new Slack sidebar is unusable. Can we opt out?",
        hn_title="Slack's new sidebar redesign",
        theme="slack_redesign",
    ),
)


def plan_extra_spikes(start: int, window_end: int, first_id: int) -> list[Burst]:
    """Spikes no status page explains (GitHub and Slack are not in ICPE), and a slow climb."""
    bursts: list[Burst] = []
    for spec in EXTRA_SPIKES:
        hh, mm = (int(x) for x in spec.hhmm.split(":"))
        onset = start + spec.day * DAY + hh * HOUR + mm * MINUTE
        peak, end, sampler = burst_shape(
            onset, None, spec.rise_min * MINUTE, spec.tau_min * MINUTE, 0.0, window_end
        )
        bursts.append(
            Burst(
                burst_id=f"b{first_id + len(bursts):02d}",
                kind="viral_thread",
                service=spec.service,
                description=spec.description,
                onset=onset,
                peak=peak,
                end=end,
                planned_posts=spec.posts,
                mix=spec.mix,
                flavour=spec.flavour,
                sampler=sampler,
                thread_titles=(spec.reddit_title, spec.hn_title),
                theme=spec.theme,
            )
        )
    bursts.append(slow_climb(start, window_end, f"b{first_id + len(bursts):02d}"))
    return bursts


def slow_climb(start: int, window_end: int, burst_id: str) -> Burst:
    """GitHub Actions queues degrade for 6.5 hours (complaints climb linearly), then a fix."""
    onset = start + 9 * DAY + 9 * HOUR
    fix = onset + int(6.5 * HOUR)

    def sample(r: random.Random) -> int:
        if r.random() < 0.92:
            return onset + int((fix - onset) * math.sqrt(r.random()))
        return fix + int(r.expovariate(1 / (20 * MINUTE)))

    return Burst(
        burst_id=burst_id,
        kind="slow_climb",
        service="github",
        description="slow climb: GitHub Actions queue delays build up, then a fix",
        onset=onset,
        peak=fix,
        end=min(fix + HOUR, window_end),
        planned_posts=480,
        mix={
            "slowness": 0.6,
            "errors": 0.14,
            "humor": 0.12,
            "communication": 0.08,
            "switching": 0.06,
        },
        flavour="slow",
        resolved=fix,
        sampler=sample,
        thread_titles=(
            "GitHub Actions jobs stuck in queue for hours?",
            "GitHub Actions queue times are climbing",
        ),
        theme="actions_slow",
    )


def burst_mix(b: Burst, t: int) -> Mix:
    if b.mix is not None:
        return AFTER_MIX if b.resolved is not None and t > b.resolved else b.mix
    primary = FLAVOUR_PRIMARY[b.flavour]
    assert b.resolved is not None
    if t > max(b.resolved, b.peak) + 2 * MINUTE:
        return AFTER_MIX
    if t < b.peak + 20 * MINUTE:
        return merge_mix((EARLY_MIX, 0.65), (primary, 0.35))
    return merge_mix((MIDDLE_MIX, 0.8), (primary, 0.2))


def status_phase(b: Burst | None, t: int) -> str:
    if b is None or b.first_update is None or b.resolved is None:
        return "none"
    if t < b.first_update:
        return "pre"
    return "during" if t <= b.resolved else "after"


# ---------------------------------------------------------------------------------------------
# Post times
# ---------------------------------------------------------------------------------------------


def _bump(hour: float, centre: float, width: float) -> float:
    d = min(abs(hour - centre), 24 - abs(hour - centre))
    return math.exp(-0.5 * (d / width) ** 2)


def diurnal(hour: float) -> float:
    """US working day dominates, with an EU morning and an APAC evening shoulder (UTC)."""
    return (
        0.22 + _bump(hour, 16.0, 3.5) + 0.45 * _bump(hour, 9.5, 2.0) + 0.3 * _bump(hour, 2.0, 2.5)
    )


DIURNAL_MEAN = sum(diurnal(m / 60) for m in range(1440)) / 1440
DIURNAL_MAX = max(diurnal(m / 60) for m in range(1440)) / DIURNAL_MEAN


def baseline_rate(service: str, t: int, day_factor: float) -> float:
    """Expected posts per second at t."""
    dt = datetime.fromtimestamp(t, UTC)
    weekly = WEEKEND_FACTOR[service] if dt.weekday() >= 5 else (1.05 if dt.weekday() == 0 else 1.0)
    hour = dt.hour + dt.minute / 60
    return BASELINE_PER_DAY[service] / DAY * weekly * day_factor * diurnal(hour) / DIURNAL_MEAN


def poisson_times(
    rng: random.Random, start: int, end: int, max_rate: float, rate: Callable[[int], float]
) -> list[int]:
    """Times of an inhomogeneous Poisson process, by thinning."""
    times: list[int] = []
    t = float(start)
    while True:
        t += rng.expovariate(max_rate)
        if t >= end:
            return times
        if rng.random() * max_rate < rate(int(t)):
            times.append(int(t))


def baseline_times(rng: random.Random, service: str, start: int, end: int) -> list[int]:
    days = [rng.lognormvariate(0, 0.08) for _ in range((end - start) // DAY + 1)]
    peak = BASELINE_PER_DAY[service] / DAY * 1.05 * max(days) * DIURNAL_MAX
    return poisson_times(
        rng, start, end, peak, lambda t: baseline_rate(service, t, days[(t - start) // DAY])
    )


# ---------------------------------------------------------------------------------------------
# Authors
# ---------------------------------------------------------------------------------------------

# fmt: off
NAME_A = ["dev", "code", "nina", "sam", "pixel", "byte", "coffee", "null", "async", "mara", "leo",
          "kai", "zoe", "rusty", "lambda", "ops", "data", "ux", "jules", "ravi", "yuki", "lena",
          "omar", "tomas", "ana", "chen", "ivy", "max", "priya", "felix", "noor", "sol", "ada",
          "kenji", "ola", "marta", "theo", "iris", "bea", "arjun", "lucas", "mei", "diego"]
NAME_B = ["builds", "writes", "dev", "codes", "404", "ops", "makes", "ships", "_io", "hq", "labs",
          "tweets", "design", "pm", "ml", "eng", "data", "bytes", "runs", "cooks", ""]
# fmt: on
INSTANCES = ["mastodon.social", "hachyderm.io", "fosstodon.org", "mstdn.social", "infosec.exchange"]
BASE32_SORT = "234567abcdefghijklmnopqrstuvwxyz"


class AuthorPool:
    """Per source: regular authors (a few post often) with heavy-tailed follower counts,
    and a handful of big accounts that start the viral posts."""

    SIZES: ClassVar[dict[str, int]] = {
        "x": 9000,
        "reddit": 3500,
        "bluesky": 3000,
        "mastodon": 1500,
        "hackernews": 1500,
    }

    def __init__(self, rng: random.Random) -> None:
        self.regular: dict[str, list[Author]] = {}
        self.cum: dict[str, list[float]] = {}
        self.big: dict[str, list[Author]] = {}
        used: set[str] = set()
        for source in SOURCES:
            self.regular[source] = [
                self._author(rng, source, used, big=False) for _ in range(self.SIZES[source])
            ]
            # Zipf-like activity: the first authors post far more often than the tail.
            weights = [1 / (k + 8) ** 0.9 for k in range(self.SIZES[source])]
            total = 0.0
            self.cum[source] = [total := total + w for w in weights]
            self.big[source] = [self._author(rng, source, used, big=True) for _ in range(25)]

    @staticmethod
    def _handle(rng: random.Random, source: str, used: set[str]) -> str:
        while True:
            seps = {"x": ["", "_"], "reddit": ["", "_", "-"], "hackernews": ["", "_", "-"]}
            name = rng.choice(NAME_A) + rng.choice(seps.get(source, ["", "_", "."]))
            name = (
                name
                + rng.choice(NAME_B)
                + (str(rng.randint(1, 9999)) if rng.random() < 0.6 else "")
            )
            name = re.sub(r"[._-]{2,}", lambda m: m.group(0)[0], name).strip("._-") or "anon"
            if source == "bluesky":
                name = f"{name.replace('_', '-').replace('.-', '.')}.bsky.social"
            elif source == "mastodon":
                name = f"{name.replace('.', '_')}@{rng.choice(INSTANCES)}"
            elif source == "reddit" and rng.random() < 0.15:
                name = f"throwaway_{rng.randint(1000, 99999)}"
            key = f"{source}:{name.lower()}"
            if key not in used:
                used.add(key)
                return name

    def _author(self, rng: random.Random, source: str, used: set[str], big: bool) -> Author:
        handle = self._handle(rng, source, used)
        followers: int | None = None
        if source in ("x", "bluesky", "mastodon"):
            mu = {"x": 5.2, "bluesky": 4.6, "mastodon": 4.3}[source]
            followers = (
                min(4_000_000, int(60_000 * rng.paretovariate(1.1)))
                if big
                else int(rng.lognormvariate(mu, 1.7))
            )
        did = (
            "did:plc:" + "".join(rng.choice(BASE32_SORT) for _ in range(24))
            if source == "bluesky"
            else None
        )
        return Author(handle=handle, followers=followers, did=did)

    def regular_author(self, rng: random.Random, source: str) -> Author:
        return rng.choices(self.regular[source], cum_weights=self.cum[source])[0]

    def big_author(self, rng: random.Random, source: str) -> Author:
        return rng.choice(self.big[source])


# ---------------------------------------------------------------------------------------------
# Texts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextContext:
    service: Service
    ctype: str
    source: str
    flavour: str
    api_only: bool
    provider: str | None
    phase: str  # status page: none | pre | during | after
    misspell: bool
    as_reply: bool
    theme: str | None = None


def typo(rng: random.Random, text: str, protected: Sequence[str]) -> str:
    """One keyboard slip in a word that is not a watched keyword."""
    words = text.split(" ")
    candidates = [
        i
        for i, w in enumerate(words)
        if len(w) >= 4
        and w.isascii()
        and w.isalpha()
        and not any(p.lower() in w.lower() for p in protected)
    ]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    k = rng.randrange(1, len(w) - 1)
    kind = rng.random()
    if kind < 0.4:
        w = w[:k] + w[k + 1] + w[k] + w[k + 2 :]
    elif kind < 0.7:
        w = w[:k] + w[k + 1 :]
    else:
        w = w[:k] + w[k] + w[k:]
    words[i] = w
    return " ".join(words)


def mention(rng: random.Random, ctx: TextContext) -> str:
    key = ctx.service.key
    if ctx.misspell:
        return rng.choice(MISSPELLED[key])
    if ctx.api_only and key in API_MENTIONS and rng.random() < 0.7:
        return rng.choice(API_MENTIONS[key])
    if key == "notion" and ctx.provider and ctx.ctype in NEGATIVE and rng.random() < 0.15:
        # Notion users name the upstream: "Notion AI down, is Anthropic having issues?"
        return f"Notion AI (and probably {PROVIDER_NAMES[ctx.provider]})"
    return rng.choice(MENTIONS[key])


def fill(rng: random.Random, template: str, ctx: TextContext, lang: str) -> str:
    s = ctx.service
    detail_key = "api" if ctx.api_only else ctx.flavour
    tasks = TASKS_I18N[lang] if lang != "en" else TASKS[s.key]
    values = {
        "svc": mention(rng, ctx),
        "comp": rng.choice(s.competitors or ("a competitor",)),
        "handle": rng.choice(s.handles or (s.name,)),
        "detail": rng.choice(DETAILS[detail_key]),
        "task": rng.choice(tasks),
        "feature": rng.choice(FEATURES[s.key]),
        "n": str(rng.choice([2, 3, 5, 10, 12, 15, 20, 30, 40, 45, 50, 90])),
        "time_ref": rng.choice(TIME_REFS),
        "place": rng.choice(PLACES),
        "nth": rng.choice(["3rd", "4th", "5th", "second", "third"]),
        "amount": rng.choice(["3,400", "1,280", "12,000", "860", "4,950", "2,175"]),
    }
    return re.sub(r"\s+", " ", template.format_map(values)).strip()


def core_template(rng: random.Random, ctx: TextContext, lang: str) -> tuple[str, str]:
    """A core sentence and the language it is in (English where a language lacks the type).
    A spike's theme (a redesign, a bill) and a service's own gripes come first."""
    ctype, phase = ctx.ctype, ctx.phase
    themed = THEME_CORE.get(ctx.theme or "", {}).get(ctype)
    if themed and (lang == "en" or rng.random() < 0.5):
        return rng.choice(themed), "en"
    own = SERVICE_CORE.get(ctx.service.key, {}).get(ctype)
    if own and lang == "en" and rng.random() < 0.7:
        return rng.choice(own), "en"
    key = ctype
    if ctype == "communication" and phase != "none":
        key = f"communication_{phase}"
    if lang != "en":
        bank = CORE_I18N[lang]
        lkey = "communication" if key.startswith("communication") and phase != "after" else key
        if lkey in bank:
            return rng.choice(bank[lkey]), lang
    return rng.choice(CORE_EN[key]), "en"


def decorate(rng: random.Random, text: str, ctx: TextContext, lang: str) -> str:
    """Openers, sarcasm, emoji, hashtags and styling, shaped by source and type."""
    negative = ctx.ctype in NEGATIVE
    formal = ctx.source == "hackernews"
    if lang == "en" and not formal and rng.random() < 0.25:
        text = f"{rng.choice(OPENERS_NEG if negative else OPENERS_ANY)} {text}"
    if lang == "en" and negative and rng.random() < (0.12 if formal else 0.3):
        addon = rng.choice(SARCASM if rng.random() < 0.5 else ADDONS)
        addon = addon.format(
            time_ref=rng.choice(TIME_REFS),
            nth=rng.choice(["3rd", "4th", "second"]),
            place=rng.choice(PLACES),
        )
        text = f"{text}, {addon}" if rng.random() < 0.6 else f"{text}. {addon}"
    if formal:
        return text[0].upper() + text[1:] if text else text
    if rng.random() < 0.45:
        pool = (
            EMOJI_POS
            if ctx.ctype.startswith("praise")
            else EMOJI_FUN
            if ctx.ctype == "humor"
            else EMOJI_NEG
            if negative
            else [*EMOJI_POS, "👀"]
        )
        text = f"{text} {rng.choice(pool) * rng.choice([1, 1, 1, 2, 3])}"
    tag = HASHTAG[ctx.service.key]
    if ctx.source in ("x", "mastodon") and rng.random() < (
        0.3 if ctx.source == "mastodon" else 0.15
    ):
        tags = (
            [f"#{tag}Down", "#outage"] if ctx.ctype in ("outage", "errors") else [f"#{tag}", "#AI"]
        )
        tags += ["#devlife", "#buildinpublic", "#productivity"]
        text = f"{text} {' '.join(rng.sample(tags, rng.choice([1, 1, 2])))}"
    if rng.random() < 0.25:
        text = text.lower()
    elif negative and ctx.ctype in ("outage", "errors") and rng.random() < 0.03:
        text = text.upper()
    if rng.random() < 0.12:
        protected = ctx.service.keywords + ctx.service.handles + ctx.service.competitors
        text = typo(rng, text, protected)
    return text


def compose(rng: random.Random, ctx: TextContext) -> tuple[str, str]:
    """Text and language of one post."""
    if ctx.as_reply and rng.random() < 0.35:
        group = (
            "back"
            if ctx.ctype == "praise_back"
            else "negative"
            if ctx.ctype in NEGATIVE or ctx.ctype == "humor"
            else "neutral"
        )
        return rng.choice(SHORT_REPLIES[group]).format(place=rng.choice(PLACES)), "en"
    lang = "en"
    if rng.random() < (0.01 if ctx.source == "hackernews" else NON_ENGLISH_SHARE):
        lang = pick(rng, LANG_WEIGHTS)
    template, lang = core_template(rng, ctx, lang)
    text = fill(rng, template, ctx, lang)
    if ctx.as_reply and lang == "en" and ctx.ctype in NEGATIVE and rng.random() < 0.4:
        text = f"{rng.choice(REPLY_PREFIX)} {text}"
    elif ctx.source == "reddit" and not ctx.as_reply and lang == "en" and rng.random() < 0.5:
        body_template, _ = core_template(rng, ctx, "en")
        if body_template != template:
            text = f"{text}\n\n{fill(rng, body_template, ctx, 'en')}"
    return decorate(rng, text, ctx, lang), lang


def noise_text(rng: random.Random) -> str:
    u = rng.random()
    if u < 0.15:
        text = rng.choice(NOISE_TRAPS)
    elif u < 0.55:
        text = f"{rng.choice(NOISE_THINGS)} {rng.choice(NOISE_STATES)}"
    else:
        text = rng.choice(NOISE_CHATTER).format(comp=rng.choice(NOISE_COMPETITORS))
    if rng.random() < 0.3:
        text = f"{text} {rng.choice(EMOJI_NEG + EMOJI_FUN)}"
    return text.lower() if rng.random() < 0.3 else text


# ---------------------------------------------------------------------------------------------
# Stream assembly
# ---------------------------------------------------------------------------------------------


def source_for(rng: random.Random, service: str | None) -> str:
    return pick(rng, SOURCE_WEIGHTS.get(service or "default", SOURCE_WEIGHTS["default"]))


def new_post(
    rng: random.Random,
    authors: AuthorPool,
    t: int,
    service: str | None,
    ctype: str,
    burst: Burst | None,
) -> Post:
    source = source_for(rng, service)
    reply_share = 0.6 if burst is not None else 0.45
    return Post(
        t=t,
        ms=rng.randrange(1000),
        source=source,
        service=service,
        ctype=ctype,
        author=authors.regular_author(rng, source),
        burst_id=burst.burst_id if burst else None,
        wants_thread=source in THREAD_SOURCES and rng.random() < reply_share,
    )


def baseline_posts(
    rng: random.Random, authors: AuthorPool, services: Sequence[str], start: int, end: int
) -> list[Post]:
    posts = []
    for service in services:
        for t in baseline_times(rng, service, start, end):
            posts.append(new_post(rng, authors, t, service, pick(rng, BASELINE_MIX), None))
    return posts


def burst_posts(
    rng: random.Random, authors: AuthorPool, b: Burst, start: int, end: int
) -> list[Post]:
    assert b.sampler is not None
    posts = []
    for _ in range(b.planned_posts):
        t = b.sampler(rng)
        if start <= t < end:
            posts.append(new_post(rng, authors, t, b.service, pick(rng, burst_mix(b, t)), b))
    return posts


def thread_starters(
    rng: random.Random, authors: AuthorPool, b: Burst, services: dict[str, Service]
) -> list[Post]:
    """A Reddit megathread and, for big bursts, an HN thread that later posts reply to."""
    if b.planned_posts < 150:
        return []
    name = services[b.service].name
    day = datetime.fromtimestamp(b.onset, UTC).strftime("%B %d")
    if b.thread_titles is not None:
        reddit, hn = b.thread_titles
    else:
        reddit = rng.choice(
            [
                f"Is {name} down right now?",
                f"{name} down? (megathread {day})",
                f"{name} not working for anyone else?",
            ]
        )
        provider, title = b.description.split(": ", 1)
        hn = (
            f"{provider} status: {title}"
            if b.service != "notion"
            else f"Ask HN: {name} failing for anyone else?"
        )
    t = b.onset + rng.randint(2, 9) * MINUTE
    ctype = "outage" if b.mix is None else max(sorted(b.mix), key=b.mix.__getitem__)
    out = [
        Post(
            t=t,
            ms=rng.randrange(1000),
            source="reddit",
            service=b.service,
            ctype=ctype,
            author=authors.regular_author(rng, "reddit"),
            burst_id=b.burst_id,
            thread_weight=25.0,
            fixed_text=reddit,
        )
    ]
    if b.planned_posts >= 300 or b.kind != "incident":
        out.append(
            Post(
                t=t + rng.randint(60, 900),
                ms=rng.randrange(1000),
                source="hackernews",
                service=b.service,
                ctype=ctype,
                author=authors.regular_author(rng, "hackernews"),
                burst_id=b.burst_id,
                thread_weight=15.0,
                fixed_text=hn,
            )
        )
    return out


def noise_posts(rng: random.Random, authors: AuthorPool, start: int, end: int) -> list[Post]:
    times = poisson_times(
        rng,
        start,
        end,
        NOISE_PER_DAY / DAY * DIURNAL_MAX,
        lambda t: NOISE_PER_DAY / DAY * diurnal((t % DAY) / HOUR) / DIURNAL_MEAN,
    )
    posts = []
    for t in times:
        source = source_for(rng, None)
        posts.append(
            Post(
                t=t,
                ms=rng.randrange(1000),
                source=source,
                service=None,
                ctype="none",
                author=authors.regular_author(rng, source),
                text=noise_text(rng),
            )
        )
    return posts


def attach_threads(rng: random.Random, posts: list[Post]) -> None:
    """Reddit/HN posts that want a thread reply to a running one of the same service, favouring
    megathreads and fresh threads; the rest start threads of their own."""
    open_threads: dict[tuple[str, str], list[Post]] = {}
    for p in sorted(posts, key=lambda p: (p.t, p.ms)):
        if p.source not in THREAD_SOURCES or p.service is None:
            continue
        key = (p.source, p.service)
        threads = [q for q in open_threads.get(key, []) if p.t - q.t < 8 * HOUR]
        open_threads[key] = threads
        candidates = [q for q in threads if q.t < p.t]
        if p.wants_thread and candidates:
            weights = [q.thread_weight * math.exp(-(p.t - q.t) / (2 * HOUR)) for q in candidates]
            parent = rng.choices(candidates, weights=weights)[0]
            p.parent = parent
            parent.children += 1
        else:
            threads.append(p)


def write_texts(
    rng: random.Random,
    posts: list[Post],
    services: dict[str, Service],
    bursts: dict[str, Burst],
    matcher: KeywordMatcher,
) -> None:
    for p in sorted(posts, key=lambda p: (p.t, p.ms, p.source)):
        if p.service is None:
            continue  # noise already has text
        b = bursts.get(p.burst_id or "")
        misspell = rng.random() < 0.03
        ctx = TextContext(
            service=services[p.service],
            ctype=p.ctype,
            source=p.source,
            flavour=b.flavour if b else "errors",
            api_only=b.api_only if b else False,
            provider=b.provider if b else None,
            phase=status_phase(b, p.t),
            misspell=misspell,
            as_reply=p.parent is not None,
            theme=b.theme if b else None,
        )
        if p.fixed_text is not None:
            p.text, p.lang = p.fixed_text, "en"
        else:
            p.text, p.lang = compose(rng, ctx)
        # Records a keyword matcher would miss or misfile carry the service; about half the
        # others do too (an importer that knows the query it ran sets it).
        p.set_service = matcher.match(p.text) != p.service or rng.random() < SERVICE_FIELD_SHARE


def pick_viral(
    rng: random.Random, posts: list[Post], bursts: Sequence[Burst], authors: AuthorPool
) -> None:
    """Near each big burst's peak, one or two posts by big accounts go viral."""
    by_burst: dict[str, list[Post]] = {}
    for p in posts:
        if p.burst_id and p.source in REPOST_SOURCES and p.parent is None and p.lang == "en":
            by_burst.setdefault(p.burst_id, []).append(p)
    for b in bursts:
        if b.planned_posts < 300:
            continue
        near_peak = sorted(
            (
                q
                for q in by_burst.get(b.burst_id, [])
                if abs(q.t - b.peak) < 20 * MINUTE
                and q.ctype in ("humor", "outage", "billing", "quality", "communication")
            ),
            key=lambda q: (q.t, q.ms),
        )
        for p in rng.sample(near_peak, min(len(near_peak), 2 if b.planned_posts > 700 else 1)):
            p.viral = True
            p.author = authors.big_author(rng, p.source)


def engagement(rng: random.Random, p: Post) -> None:
    if p.source in THREAD_SOURCES:
        boost = 40.0 if p.thread_weight > 1 else 1.0
        p.likes = int(rng.lognormvariate(1.0, 1.2) * boost)
        p.replies = int(p.children * rng.uniform(1.5, 4.0)) + int(rng.lognormvariate(0, 1.0)) - 1
        p.replies = max(p.replies, p.children)
        return
    followers = p.author.followers or 1
    boost = {"humor": 3.0, "outage": 1.5, "communication": 1.4}.get(p.ctype, 1.0)
    if p.viral:
        p.likes = min(250_000, int(3_000 * rng.paretovariate(1.2)))
    else:
        p.likes = int(0.04 * followers**0.6 * boost * rng.lognormvariate(0, 1.0))
    p.reposts = int(p.likes * rng.uniform(0.05, 0.3))
    p.replies = int(p.likes * rng.uniform(0.03, 0.3)) + (1 if rng.random() < 0.25 else 0)
    p.quotes = int(p.reposts * rng.uniform(0.0, 0.25)) if p.source != "mastodon" else 0


def make_reposts(
    rng: random.Random, posts: list[Post], authors: AuthorPool, end: int
) -> list[Post]:
    """Repost records (a sample of those counted in `reposts`): many for viral posts."""
    out: list[Post] = []
    share = {"humor": 0.15, "outage": 0.08, "communication": 0.08, "praise_back": 0.05}
    for p in sorted(posts, key=lambda p: (p.t, p.ms, p.source)):
        if p.source not in REPOST_SOURCES or p.is_repost:
            continue
        if p.viral:
            count, mean_delay = rng.randint(40, 160), 40 * MINUTE
        elif rng.random() < share.get(p.ctype, 0.03):
            count, mean_delay = rng.choice([1, 1, 1, 2, 3]), 20 * MINUTE
        else:
            continue
        made = 0
        for _ in range(count):
            t = p.t + 5 + int(rng.expovariate(1 / mean_delay))
            if t >= end:
                continue
            text = f"RT @{p.author.handle}: {p.text}" if p.source == "x" else p.text
            out.append(
                Post(
                    t=t,
                    ms=rng.randrange(1000),
                    source=p.source,
                    service=p.service,
                    ctype=p.ctype,
                    author=authors.regular_author(rng, p.source),
                    burst_id=p.burst_id,
                    text=text,
                    lang=p.lang,
                    is_repost=True,
                    parent=p,
                    set_service=p.set_service
                    or (p.service is not None and rng.random() < SERVICE_FIELD_SHARE),
                )
            )
            made += 1
        p.reposts = max(p.reposts, made * rng.randint(4, 15))
    return out


# ---------------------------------------------------------------------------------------------
# Ids, URLs and records
# ---------------------------------------------------------------------------------------------

SUBREDDITS = {
    "chatgpt": ["ChatGPT", "OpenAI", "ChatGPTPro"],
    "claude": ["ClaudeAI", "Anthropic"],
    "notion": ["Notion", "NotionSo"],
    "slack": ["Slack", "sysadmin"],
    "github": ["github", "programming", "devops"],
    None: ["AskReddit", "productivity"],
}
X_EPOCH_MS = 1_288_834_974_657


def tid(us: int) -> str:
    """Bluesky record key: a base32-sortable 64-bit timestamp identifier."""
    n = us << 10
    return "".join(BASE32_SORT[(n >> (5 * i)) & 31] for i in reversed(range(13)))


def slug(text: str) -> str:
    words = re.sub(r"[^a-z0-9 ]", "", text.lower().split("\n")[0]).split()
    return "_".join(words[:8]) or "post"


def assign_ids(rng: random.Random, posts: list[Post]) -> None:
    """Per source, ids in the platform's own shape, increasing with time (so a parent, always
    earlier, has a smaller id)."""
    reddit_post, reddit_comment = int("1eq5000", 36), int("lh2a000", 36)
    hn = 41_230_000
    last: dict[str, int] = {}
    for p in posts:  # already sorted by time
        ms = p.t * 1000 + p.ms
        if p.source == "x":
            n = max(((ms - X_EPOCH_MS) << 22) + rng.randrange(4096), last.get("x", 0) + 1)
            p.post_id, last["x"] = str(n), n
            p.url = f"https://x.com/{p.author.handle}/status/{n}"
        elif p.source == "mastodon":
            n = max((ms << 16) + rng.randrange(65536), last.get("mastodon", 0) + 1)
            p.post_id, last["mastodon"] = str(n), n
            user, instance = p.author.handle.split("@")
            p.url = f"https://{instance}/@{user}/{n}"
        elif p.source == "bluesky":
            n = max(ms * 1000 + rng.randrange(1000), last.get("bluesky", 0) + 1)
            last["bluesky"] = n
            key = tid(n)
            p.post_id = f"at://{p.author.did}/app.bsky.feed.post/{key}"
            p.url = f"https://bsky.app/profile/{p.author.handle}/post/{key}"
        elif p.source == "hackernews":
            hn += rng.randint(1, 60)  # HN ids count every item on the site
            p.post_id = str(hn)
            p.url = f"https://news.ycombinator.com/item?id={hn}"
        else:
            root = p.parent
            if root is None:
                reddit_post += rng.randint(1, 40)
                p.post_id = to_base36(reddit_post)
                p.subreddit = rng.choice(SUBREDDITS[p.service])
                p.url = (
                    f"https://www.reddit.com/r/{p.subreddit}/comments/{p.post_id}/{slug(p.text)}/"
                )
            else:
                reddit_comment += rng.randint(1, 400)
                p.post_id = to_base36(reddit_comment)
                p.subreddit = root.subreddit
                p.url = (
                    f"https://www.reddit.com/r/{p.subreddit}/comments/{root.post_id}/"
                    f"comment/{p.post_id}/"
                )


def to_base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


def record(p: Post) -> dict[str, object]:
    rec: dict[str, object] = {
        "id": p.post_id,
        "source": p.source,
        "created_at": iso(p.t),
        "text": p.text,
        "author": p.author.handle,
        "author_followers": p.author.followers,
        "url": p.url,
        "lang": p.lang,
        "likes": p.likes,
        "reposts": p.reposts,
        "replies": p.replies,
        "quotes": p.quotes,
        "is_repost": p.is_repost,
        "parent_id": p.parent.post_id if p.parent else None,
    }
    if p.set_service:
        rec["service"] = p.service
    return rec


def write_posts(path: Path, posts: Sequence[Post]) -> None:
    lines = "".join(json.dumps(record(p), ensure_ascii=False) + "\n" for p in posts)
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
    ):
        gz.write(lines.encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# Scenario (ground truth)
# ---------------------------------------------------------------------------------------------


def counts(posts: Sequence[Post], matcher: KeywordMatcher) -> dict[str, object]:
    def tally(key: Callable[[Post], str]) -> dict[str, int]:
        return dict(sorted(Counter(key(p) for p in posts).items()))

    noise = [p for p in posts if p.service is None]
    return {
        "posts": len(posts),
        "by_service": tally(lambda p: p.service or "none (noise)"),
        "by_source": tally(lambda p: p.source),
        "by_day": tally(lambda p: iso(p.t)[:10]),
        "by_lang": tally(lambda p: p.lang),
        "reposts": sum(p.is_repost for p in posts),
        "replies_in_threads": sum(p.parent is not None and not p.is_repost for p in posts),
        "viral_posts": sum(p.viral for p in posts),
        "with_service_field": sum(p.set_service for p in posts),
        "noise": len(noise),
        "noise_keyword_traps": sum(matcher.match(p.text) is not None for p in noise),
    }


def burst_entry(b: Burst, posts: Sequence[Post]) -> dict[str, object]:
    mine = [p for p in posts if p.burst_id == b.burst_id]
    lead = None if b.first_update is None else round((b.first_update - b.onset) / MINUTE, 1)
    return {
        "burst_id": b.burst_id,
        "kind": b.kind,
        "service": b.service,
        "provider": b.provider,
        "incident_id": b.incident_id,
        "description": b.description,
        "onset": iso(b.onset),
        "peak": iso(b.peak),
        "end": iso(b.end),
        "first_status_update": iso(b.first_update) if b.first_update is not None else None,
        "resolved": iso(b.resolved) if b.resolved is not None else None,
        "lead_minutes": lead,
        "planned_posts": b.planned_posts,
        "size": len(mine),
        "reposts": sum(p.is_repost for p in mine),
        "complaint_mix": dict(
            sorted(
                Counter(
                    "communication"
                    if p.ctype.startswith("communication")
                    else "praise"
                    if p.ctype.startswith("praise")
                    else p.ctype
                    for p in mine
                    if not p.is_repost
                ).items()
            )
        ),
        "viral_post_ids": sorted(p.post_id for p in mine if p.viral),
    }


def scenario(
    seed: int,
    start: int,
    incidents: Sequence[Incident],
    bursts: Sequence[Burst],
    skipped: dict[str, str],
    posts: Sequence[Post],
    matcher: KeywordMatcher,
) -> dict[str, object]:
    return {
        "about": "Ground truth of the SIMULATED demo posts (scripts/generate_demo_data.py). "
        "Incidents are real (ICPE'25: OpenAI and Anthropic only; GitHub and Slack are not in "
        "it, so their spikes have no incident). lead_minutes = first status update minus "
        "burst onset, > 0 when social media saw it first. size counts the burst's posts "
        "including reposts and thread replies; complaint_mix counts its non-repost posts by "
        "the type the generator intended. counts.by_service is the true service.",
        "seed": seed,
        "window": {"start": iso(start), "end": iso(start + WINDOW_DAYS * DAY), "days": WINDOW_DAYS},
        "incident_source": ICPE_CITATION,
        "counts": counts(posts, matcher),
        "incidents": [
            {
                "incident_id": i.incident_id,
                "provider": i.provider,
                "title": i.title,
                "impact": i.impact,
                "first_status_update": iso(i.first_update),
                "resolved": iso(i.resolved),
                "bursts": [b.burst_id for b in bursts if b.incident_id == i.incident_id],
                "note": skipped.get(i.incident_id),
            }
            for i in sorted(incidents, key=lambda i: (i.first_update, i.incident_id))
        ],
        "bursts": [burst_entry(b, posts) for b in bursts],
    }


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


DEFAULT_SEED = 7


@dataclass
class Simulation:
    """The simulated stream and what it was built from, before anything is written."""

    seed: int
    start: int
    header: list[str]
    incident_rows: list[list[str]]  # the ICPE rows of the incidents in the window
    incidents: list[Incident]
    bursts: list[Burst]
    skipped: dict[str, str]
    posts: list[Post]  # reposts included; each original keeps its intended `ctype`
    matcher: KeywordMatcher


def simulate(seed: int, icpe: Path, config: Path) -> Simulation:
    """The demo stream in memory (deterministic for a seed): posts around the real incidents."""
    services = load_services(config)
    for provider, targets in BURST_SERVICES.items():
        for s in targets:
            if provider not in services[s].depends_on:
                raise SystemExit(f"{config}: services.{s}.depends_on lacks {provider!r}")
    matcher = KeywordMatcher(services)
    header, rows = read_icpe(icpe)
    chosen = [
        (r, parse_incident(header, r)) for r in rows if r[header.index("provider")] in PROVIDERS
    ]
    start = pick_window([i for _, i in chosen])
    end = start + WINDOW_DAYS * DAY
    in_window = [(r, i) for r, i in chosen if start <= i.first_update < end]
    incidents = [i for _, i in in_window]

    bursts, skipped = plan_incident_bursts(sub_rng(seed, "bursts"), incidents, end)
    bursts += plan_extra_spikes(start, end, len(bursts) + 1)
    by_id = {b.burst_id: b for b in bursts}

    authors = AuthorPool(sub_rng(seed, "authors"))
    rng = sub_rng(seed, "posts")
    posts = baseline_posts(rng, authors, list(BASELINE_PER_DAY), start, end)
    for b in bursts:
        posts += thread_starters(rng, authors, b, services)
        posts += burst_posts(rng, authors, b, start, end)
    posts += noise_posts(sub_rng(seed, "noise"), authors, start, end)

    attach_threads(sub_rng(seed, "threads"), posts)
    write_texts(sub_rng(seed, "texts"), posts, services, by_id, matcher)
    pick_viral(sub_rng(seed, "viral"), posts, bursts, authors)
    eng = sub_rng(seed, "engagement")
    for p in sorted(posts, key=lambda p: (p.t, p.ms, p.source, p.text)):
        engagement(eng, p)
    posts += make_reposts(sub_rng(seed, "reposts"), posts, authors, end)
    # Total order: time, then source, then text, then author (ties are vanishingly rare).
    posts.sort(key=lambda p: (p.t, p.ms, p.source, p.is_repost, p.text, p.author.handle))
    assign_ids(sub_rng(seed, "ids"), posts)
    return Simulation(seed, start, header, [r for r, _ in in_window], incidents, bursts, skipped,
                      posts, matcher)


def generate(seed: int, icpe: Path, config: Path, out: Path) -> tuple[int, int]:
    """Writes the three demo files into out; returns (posts, bursts)."""
    sim = simulate(seed, icpe, config)
    out.mkdir(parents=True, exist_ok=True)
    write_incidents_csv(out / "incidents_icpe.csv", sim.header, sim.incident_rows)
    write_posts(out / "posts.jsonl.gz", sim.posts)
    truth = scenario(sim.seed, sim.start, sim.incidents, sim.bursts, sim.skipped, sim.posts,
                     sim.matcher)
    (out / "scenario.json").write_text(
        json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return len(sim.posts), len(sim.bursts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate Aftershock's demo data: real ICPE'25 incidents and a seeded, "
        "simulated post stream around them (same seed -> byte-identical files)."
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument(
        "--icpe",
        type=Path,
        default=DEFAULT_ICPE,
        help="ICPE'25 clean incident_stages.csv (default ../shared/data/...)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help="services config with keywords, handles, competitors "
        "(default pipelines/services.example.toml)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default data/demo)"
    )
    args = parser.parse_args(argv)
    if not args.icpe.is_file():
        parser.error(f"ICPE file not found: {args.icpe}")
    began = time.perf_counter()
    n_posts, n_bursts = generate(args.seed, args.icpe, args.config, args.out)
    print(
        f"wrote {args.out}: {n_posts} posts, {n_bursts} bursts "
        f"in {time.perf_counter() - began:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
