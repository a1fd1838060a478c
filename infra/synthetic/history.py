"""One candidate's history, simulated forward in time: registration, consent, outreach and what it
caused, applications and the hiring funnel, talent-pool nurture, enrichment, opt-outs, erasures."""

from __future__ import annotations

import itertools
import random
from bisect import bisect_left, bisect_right
from datetime import UTC, datetime
from typing import Any

from infra.synthetic.truth import (
    ACTIVE,
    ATTRIBUTION_WINDOW,
    BLAST,
    DAY,
    GROUND_TRUTH,
    HOUR,
    PASSIVE,
    PERSONALIZED,
    TEMPLATED,
)
from infra.synthetic.vocabulary import (
    AREA_SLUG,
    AREAS,
    CERT_NAME,
    CERTIFICATIONS,
    CHANNELS,
    COUNTRIES,
    DECLINE,
    DECLINE_NOTE,
    DIALING,
    EMPLOYERS,
    ENRICHMENT_KINDS,
    FIRST,
    K_ACK,
    K_APPLICATION,
    K_AUTOMATED_ACK,
    K_AUTOMATED_CONTENT,
    K_BOUNCE,
    K_BY_RECRUITER,
    K_CALL,
    K_CONSENT,
    K_CONTENT,
    K_DECLINED,
    K_DISMISSED,
    K_ENRICHED,
    K_HIRED,
    K_INTERVIEW,
    K_NONE,
    K_NOTE,
    K_OPT_OUT,
    K_POOL_ADD,
    K_POOL_REMOVE,
    K_POOL_SHORTLIST,
    K_POSITION,
    K_REGISTERED,
    K_REPLY,
    K_REPLY_SAID,
    LAST,
    OUTREACH_KEYS,
    OUTREACH_MIX,
    PERSONAL_OPENERS,
    PHASES,
    ROLE_SLUG,
    ROLE_TITLE,
    ROLES,
    SOURCES,
    Event,
)
from infra.synthetic.world import World, draw_between, office, pick_from

# --- one candidate's history -------------------------------------------------------------------


class _Stop(Exception):
    """The candidate's story of contacts is over (hired or opted out)."""


class History:
    """One candidate, simulated forward in time; ``events`` obey the Candidate aggregate."""

    def __init__(self, world: World, number: int) -> None:
        self.world = world
        self.rng = rng = world.rng
        self.ref = f"C-{number:06d}"
        self.events: list[Event] = []
        self.status = PASSIVE if rng.random() < GROUND_TRUTH.passive_share else ACTIVE
        self.role = ROLES.pick(rng)
        self.areas = sorted({AREAS.pick(rng) for _ in range(pick_from(rng, (1, 1, 2, 3)))})
        self.area = self.areas[0]
        self.owner = draw_between(rng, 0, len(world.recruiters))
        self.recruiter = world.recruiters[self.owner]
        self.skill = GROUND_TRUTH.recruiter_skill[self.owner]
        self.first = pick_from(rng, FIRST)
        self.last = pick_from(rng, LAST)
        self.certifications = {c for c in CERTIFICATIONS[self.role] if rng.random() < 0.4}
        self.outreach_times: list[int] = []
        self.last_outreach = 0
        self.positions: set[str] = set()
        self.opted_out_at: int | None = None
        self.pool_id: str | None = None
        self.pool_in = 0
        self.pool_out: int | None = None
        self.pool_out_reason = "other"
        self.consented = False
        self.free_from = 0
        """When the candidate's last episode (a conversation, a process) ended."""
        self.matched_until = 0
        """Positions opened before this were considered for a pool match."""

    def add(self, ts: int, kind: str, keys: tuple[str, ...], values: tuple[Any, ...]) -> int:
        """Record a touchpoint at ``ts`` with these fields (``keys`` and ``values`` pair up)."""
        self.events.append((ts - self.world.start, kind, self.ref, keys, values))
        return ts

    def add_sparse(self, ts: int, kind: str, keys: tuple[str, ...], values: tuple[Any, ...]) -> int:
        """Like ``add``, leaving out the fields whose value is None (optional in the format)."""
        present = [value is not None for value in values]
        keys = tuple(itertools.compress(keys, present))
        return self.add(ts, kind, keys, tuple(itertools.compress(values, present)))

    # --- the story ------------------------------------------------------------------------

    def simulate(self) -> list[Event]:
        world, rng, truth = self.world, self.rng, GROUND_TRUTH
        span = world.until - 5 * DAY - world.start
        registered = world.start + int(span * rng.random())
        self._register(registered)
        if rng.random() < truth.pool_at_registration[self.status]:
            self._join_pool(registered + 600)
        mean_gap = truth.days_between_steps[self.status] * DAY
        step = registered + int(rng.expovariate(1 / (10 * DAY))) + HOUR
        source = self.events[0][4][2]  # the registration's source
        self.free_from = self.matched_until = registered
        try:
            if self.status == ACTIVE and source in ("career_site", "job_board"):
                # They registered by applying.
                self.free_from = self._apply(registered + draw_between(rng, 60, 1800), None)
                step = self.free_from + HOUR
            while (step := self._pool_matches(step)) < world.until:
                if rng.random() < truth.self_application[self.status]:
                    end = self._apply(step, None)
                else:
                    end = self._outreach(step, OUTREACH_MIX[self.status].pick(rng))
                self.free_from = max(self.free_from, end)
                quiet = max(end, self.last_outreach + ATTRIBUTION_WINDOW)
                step = quiet + int(rng.expovariate(1 / mean_gap)) + HOUR
            self._pool_matches(world.until)
        except _Stop:
            pass
        self._nurture()
        self._enrichment(registered)
        self._erasure()
        return self.events

    def _register(self, ts: int) -> None:
        rng = self.rng
        country = COUNTRIES.pick(rng)
        email = f"{self.first}.{self.last}{draw_between(rng, 1, 1000)}".lower()
        phone = f"{DIALING[country]} {draw_between(rng, 200, 999)} {draw_between(rng, 1000, 10000)}"
        personal = {
            "name": f"{self.first} {self.last}",
            "email": f"{email}@{pick_from(rng, ('example.org', 'example.com'))}",
            "phone": phone,
        }
        phases = [p for p in PHASES if rng.random() < 0.45] or [pick_from(rng, PHASES)]
        self.add(
            ts,
            "candidate_registered",
            K_REGISTERED,
            (
                self.role,
                self.status,
                SOURCES[self.status].pick(rng),
                self.areas,
                phases,
                sorted(self.certifications),
                draw_between(rng, 1, 30),
                country,
                self.recruiter,
                personal,
            ),
        )
        roll = rng.random()
        for basis, share in GROUND_TRUTH.consent.items():
            if roll < share:
                self.add(ts + draw_between(rng, 60, HOUR), "consent_given", K_CONSENT, (basis,))
                self.consented = True
                break
            roll -= share

    def _cap_allows(self, ts: int) -> bool:
        """The contact policy: at most 3 outreach messages in any rolling 14 days."""
        times = self.outreach_times
        if not times or times[-1] <= ts - 14 * DAY:
            return True  # the usual case: nothing in the last fortnight, nothing later
        index = bisect_left(times, ts)
        merged = [*times[max(0, index - 3) : index], ts, *times[index : index + 3]]
        return all(merged[i + 3] - merged[i] >= 14 * DAY for i in range(len(merged) - 3))

    def _outreach(self, ts: int, kind: str, follow_up: bool = False) -> int:
        """Send one outreach message and play out what it causes; returns when that ends."""
        world, rng, truth = self.world, self.rng, GROUND_TRUTH
        automated = kind == BLAST or (
            kind == TEMPLATED and (follow_up or rng.random() < truth.templated_automated)
        )
        position = None
        if kind == BLAST:
            blast = world.next_blast(self.role, ts)
            if blast is None:
                return world.until
            ts, campaign = blast
            personal = {
                "subject": f"New {ROLE_TITLE[self.role]} jobs this month",
                "body": "Dear candidate, browse this month's openings on our career site.",
            }
        else:
            if not automated:
                ts = office(ts, rng)
            position = world.position(self.role, ts, self.positions)
            campaign = (
                f"camp-{world.calendar.month(ts)}-{AREA_SLUG[self.area]}-{ROLE_SLUG[self.role]}"
            )
            personal = self._outreach_message(kind, position)
        if ts >= world.until or not self._cap_allows(ts):
            return ts
        channel = CHANNELS[kind].pick(rng)
        self.outreach_times.insert(bisect_left(self.outreach_times, ts), ts)
        self.last_outreach = max(self.last_outreach, ts)
        by = (True,) if automated else (self.recruiter, False)
        about = (campaign,) if position is None else (campaign, position)
        keys = OUTREACH_KEYS[automated, position is None]
        self.add(ts, "outreach_sent", keys, (*by, channel, kind, *about, personal))
        warmed = self.pool_id is not None and self.pool_in <= ts
        engaging = truth.pool_engagement if warmed else truth.engagement
        engage = engaging[(self.status, kind)] * (1.0 if automated else self.skill)
        roll = rng.random()
        if self._bounced(ts, channel):
            return ts + ATTRIBUTION_WINDOW  # never delivered: nothing comes of it
        if roll < engage:
            return self._engage(ts, channel, position)
        if roll < engage + truth.not_interested[kind]:
            replied = ts + self._reply_delay()
            self._declining_reply(
                replied, channel, "not_interested", "Thanks, but I am not interested."
            )
            if rng.random() < truth.opt_out_after_not_interested:
                self._opt_out(replied + draw_between(rng, 60, 6 * HOUR), channel)
            return replied
        if rng.random() < truth.opt_out[kind]:
            self._opt_out(ts + draw_between(rng, 10 * 60, 5 * DAY), channel)
        if kind == TEMPLATED and not follow_up and rng.random() < truth.templated_follow_up:
            return self._outreach(ts + draw_between(rng, 4, 10) * DAY, TEMPLATED, follow_up=True)
        return ts + ATTRIBUTION_WINDOW

    def _outreach_message(self, kind: str, position: str | None) -> dict[str, str]:
        role = ROLE_TITLE[self.role]
        area = self.area.replace("_", " ")
        if kind == PERSONALIZED:
            opener = pick_from(self.rng, PERSONAL_OPENERS).format(
                phase=pick_from(self.rng, PHASES).replace("_", " ").title(),
                area=area,
                employer=pick_from(self.rng, EMPLOYERS),
                role=role,
            )
            return {
                "subject": f"Your {area} experience",
                "body": f"Hi {self.first}, {opener} Open to a short call this week?",
            }
        return {
            "subject": f"{role} opportunities" + (f" ({position})" if position else ""),
            "body": f"Hi {self.first}, we are hiring {role}s in {area}. Interested?",
        }

    def _bounced(self, sent: int, channel: str) -> bool:
        """Whether the channel reports the outreach undelivered (``GROUND_TRUTH.bounces``),
        and when: drawn from a generator of its own, seeded by the outreach, so a history only
        changes where a message bounced."""
        draw = random.Random(f"{self.ref}:bounce:{sent}")
        hard, soft = GROUND_TRUTH.bounces.get(channel, (0.0, 0.0))
        roll = draw.random()
        if roll >= hard + soft:
            return False
        at = sent + draw.randint(60, 6 * HOUR)
        if at < self.world.until:
            kind = "hard" if roll < hard else "soft"
            self.add(at, "outreach_bounced", K_BOUNCE, (channel, kind))
        return True

    def _declining_reply(self, at: int, channel: str, sentiment: str, body: str) -> int:
        """A no or a not-now, maybe with its reason and (not now) the day to ask again. Drawn
        from a generator of its own, seeded by the reply, so the rest of the story (and every
        figure checked against the truth) is the same with or without them."""
        said = random.Random(f"{self.ref}:{at}")
        truth = GROUND_TRUTH
        roll, reason = said.random(), None
        for name, share in truth.reply_reasons[sentiment].items():
            if roll < share:
                reason = name
                break
            roll -= share
        follow_up = None
        if sentiment == "not_now" and said.random() < truth.follow_up_asked:
            day = datetime.fromtimestamp(at + said.randint(30, 150) * DAY, UTC).date()
            follow_up = day.isoformat()
        values = (channel, sentiment, reason, follow_up, {"body": body})
        return self.add_sparse(at, "reply_received", K_REPLY_SAID, values)

    def _reply_delay(self) -> int:
        """Typically one to ten days, always well inside the attribution window."""
        return min(26 * DAY, int(DAY * (0.25 + self.rng.expovariate(1 / 3.5))))

    def _engage(self, sent: int, channel: str, position: str | None) -> int:
        """The candidate engages: a positive or neutral reply, a call, or an application."""
        rng, truth = self.rng, GROUND_TRUTH
        forms = truth.engagement_forms[self.status]
        roll = rng.random()
        at = sent + self._reply_delay()
        if roll < forms["reply"]:
            interested = rng.random() < truth.interested_share
            sentiment, body = (
                ("interested", "Thanks for reaching out, happy to talk. When suits you?")
                if interested
                else ("not_now", "Not looking right now, but please keep me posted.")
            )
            if interested:
                at = self.add(at, "reply_received", K_REPLY, (channel, sentiment, {"body": body}))
            else:
                at = self._declining_reply(at, channel, sentiment, body)
            if not interested:
                return self._maybe_join_pool(at, truth.pool_after_engagement)
            if rng.random() < truth.call_after_interested_reply:
                at = self._call(at + draw_between(rng, DAY, 7 * DAY))
        elif roll < forms["reply"] + forms["call"] or self._free_position(at, position) is None:
            at = self._call(at)  # (also when no position is left to apply to)
        else:
            return self._apply(at, position)
        if rng.random() < truth.application_after_conversation[self.status]:
            return self._apply(at + draw_between(rng, 2 * HOUR, 7 * DAY), position)
        return self._maybe_join_pool(at, truth.pool_after_engagement)

    def _free_position(self, ts: int, preferred: str | None) -> str | None:
        """The position to apply to: ``preferred`` unless already applied to, else an open one."""
        if preferred is not None and preferred not in self.positions:
            return preferred
        return self.world.position(self.role, ts, self.positions)

    def _call(self, ts: int) -> int:
        rng = self.rng
        notes = f"Talked about {self.area.replace('_', ' ')} studies, availability and pay."
        return self.add(
            office(ts, rng),
            "call_held",
            K_CALL,
            (
                self.recruiter,
                pick_from(rng, ("call", "call", "video", "in_person")),
                pick_from(rng, (15, 20, 30, 30, 45, 60)),
                {"text": notes},
            ),
        )

    def _apply(self, ts: int, position: str | None) -> int:
        """An application, its acknowledgement(s) and the hiring funnel; returns when it ends."""
        rng, truth = self.rng, GROUND_TRUTH
        position = self._free_position(ts, position)
        if position is None:
            return ts
        self.positions.add(position)
        applied = self.add(ts, "application_submitted", K_APPLICATION, (position,))
        end = self._acknowledge(applied, position)
        experience = "personal" if end[1] else "automated_only"
        end = end[0]
        if experience == "automated_only" and rng.random() < truth.walk_away_after_automated_only:
            return end
        at = applied
        if rng.random() < truth.shortlist:
            at = self.add(
                office(applied + draw_between(rng, 2 * DAY, 14 * DAY), rng),
                "shortlisted",
                K_BY_RECRUITER,
                (self.recruiter, position),
            )
            interview = rng.random() < truth.interview_after_shortlist
        else:
            interview = rng.random() < truth.interview_without_shortlist
        if not interview:
            return self._maybe_join_pool(max(at, end) + DAY, truth.pool_after_rejection)
        return self._interview(at, position, experience)

    def _interview(self, at: int, position: str, experience: str) -> int:
        """From a shortlisting (or an application) to an interview, perhaps an offer and a hire;
        returns when it ends (a hire ends the story)."""
        world, rng, truth = self.world, self.rng, GROUND_TRUTH
        at = office(at + draw_between(rng, DAY, 10 * DAY), rng)
        meets = office(at + draw_between(rng, 2 * DAY, 10 * DAY), rng)
        scheduled = world.calendar.iso(meets) if meets < world.until else None
        self.add_sparse(
            at, "interview_scheduled", K_INTERVIEW, (self.recruiter, position, scheduled)
        )
        if rng.random() >= truth.offer_after_interview:
            # Interviewed and not offered: kept out of the position's matches from then on
            # (at a fixed moment, so the rest of the story draws exactly as before).
            if meets + DAY - HOUR < world.until:
                self.add(meets + DAY - HOUR, "match_dismissed", K_DISMISSED,
                         (self.recruiter, position, "not_a_fit"))  # fmt: skip
            return self._maybe_join_pool(meets + DAY, truth.pool_after_rejection)
        offered = self.add(
            office(meets + draw_between(rng, DAY, 10 * DAY), rng),
            "offer_extended",
            K_BY_RECRUITER,
            (self.recruiter, position),
        )
        answered = offered + draw_between(rng, HOUR, 7 * DAY)
        if rng.random() >= truth.accept[experience]:
            reason = DECLINE[experience].pick(rng)
            note = {"text": DECLINE_NOTE[reason]}
            return self.add(answered, "offer_declined", K_DECLINED, (position, reason, note))
        self.add(answered, "offer_accepted", K_POSITION, (position,))
        if rng.random() >= truth.hire_after_accept:
            return answered
        hired = office(answered + draw_between(rng, DAY, 5 * DAY), rng)
        starts = hired + draw_between(rng, 14, 43) * DAY
        start_date = world.calendar.date(starts) if starts < world.until else None
        self.add_sparse(hired, "hired", K_HIRED, (self.recruiter, position, start_date))
        world.hired(position, hired, self.ref)
        self._leave_pool(hired + draw_between(rng, HOUR, 3 * DAY), "hired")
        raise _Stop

    def _acknowledge(self, applied: int, position: str) -> tuple[int, bool]:
        """The "we got your application" message(s): when the last went, and if one was personal."""
        rng, truth = self.rng, GROUND_TRUTH
        roll = rng.random()
        personal_within_48h = roll < truth.ack_personal_within_48h
        automated_only = not personal_within_48h and roll < (
            truth.ack_personal_within_48h + truth.ack_automated_only
        )
        at = applied
        if not personal_within_48h or rng.random() < truth.automated_ack_before_personal:
            at = self.add(
                applied + draw_between(rng, 30, 15 * 60),
                "application_acknowledged",
                K_AUTOMATED_ACK,
                (
                    True,
                    position,
                    "email",
                    {
                        "subject": "We got your application!",
                        "body": f"Thank you for applying to {position}. We will be in touch.",
                    },
                ),
            )
        if automated_only:
            return at, False
        if personal_within_48h:
            written = office(at + draw_between(rng, HOUR, 30 * HOUR), rng)
            written = min(written, applied + 47 * HOUR)
            written = max(written, at + 60)
        else:
            written = office(applied + draw_between(rng, 3 * DAY, 10 * DAY), rng)
        body = (
            f"Hi {self.first}, thank you for applying to {position}. I read your CV and will call."
        )
        self.add(
            written,
            "application_acknowledged",
            K_ACK,
            (
                self.recruiter,
                False,
                position,
                "email",
                {"subject": "Your application", "body": body},
            ),
        )
        return written, True

    def _opt_out(self, ts: int, channel: str) -> None:
        rng = self.rng
        scope = "do_not_contact" if rng.random() < GROUND_TRUTH.do_not_contact_share else "opt_out"
        self.add(ts, "opted_out", K_OPT_OUT, (scope, channel))
        self.opted_out_at = ts
        if rng.random() < 0.8:
            self._leave_pool(ts + draw_between(rng, HOUR, 3 * DAY), "opted_out")
        raise _Stop

    # --- the talent pool ------------------------------------------------------------------

    def _pool_matches(self, before: int) -> int:
        """Positions of the candidate's role opened since last asked, while they were in the pool
        with consent: a recruiter may shortlist them from a pool match (and the process goes on
        from there). Returns when the candidate is next free (``before`` if nothing happened)."""
        world, rng, truth = self.world, self.rng, GROUND_TRUTH
        start, self.matched_until = self.matched_until, max(self.matched_until, before)
        if self.pool_id is None or not self.consented:
            return before
        low, high = truth.pool_shortlist_after_days
        for opening in world.openings_between(self.role, start, before):
            if opening.opened < self.pool_in or opening.requisition in self.positions:
                continue
            if self.pool_out is not None and opening.opened >= self.pool_out:
                continue
            if rng.random() >= truth.pool_match_shortlist:
                continue
            at = office(opening.opened + draw_between(rng, low * DAY, high * DAY), rng)
            if not self.free_from <= at < min(opening.closes, world.until):
                continue  # busy then, or too late
            self.free_from = self._pool_shortlist(at, opening.requisition)
            before = max(before, self.free_from + HOUR)
        return before

    def _pool_shortlist(self, at: int, position: str) -> int:
        """Shortlisted from a pool match (its rank and score drawn: the generator runs no match);
        returns when the process ends."""
        rng, truth = self.rng, GROUND_TRUTH
        self.positions.add(position)
        rank, score = draw_between(rng, 1, 11), round(55 + 40 * rng.random(), 2)
        self.add(at, "shortlisted", K_POOL_SHORTLIST,
                 (self.recruiter, position, "pool_match", rank, score))  # fmt: skip
        if rng.random() >= truth.interview_after_shortlist:
            return at + DAY
        return self._interview(at, position, "personal")

    def _maybe_join_pool(self, ts: int, probability: float) -> int:
        if self.pool_id is None and self.rng.random() < probability:
            return self._join_pool(ts)
        return ts

    def _join_pool(self, ts: int) -> int:
        """Join the pool of the candidate's role and main area (once; recorded in ``_nurture``)."""
        rng, truth = self.rng, GROUND_TRUTH
        if self.pool_id is not None:
            return ts
        self.pool_id = f"pool-{self.area}-{self.role}".replace("_", "-")
        self.pool_in = office(ts, rng)
        if rng.random() < truth.pool_exit:
            self.pool_out = self.pool_in + int(rng.expovariate(1 / (240 * DAY))) + DAY
            self.pool_out_reason = pick_from(rng, ("unreachable", "not_a_fit", "other"))
        return self.pool_in

    def _leave_pool(self, ts: int, reason: str) -> None:
        if self.pool_id is not None and (self.pool_out is None or ts < self.pool_out):
            self.pool_out, self.pool_out_reason = max(ts, self.pool_in + 60), reason

    def _nurture(self) -> None:
        """Membership, shared content and check-in notes, stopping at an opt-out or exit."""
        if self.pool_id is None:
            return
        world, rng, truth = self.world, self.rng, GROUND_TRUTH
        pool = world.pool(self.pool_id, self.area)
        self.add(self.pool_in, "added_to_talent_pool", K_POOL_ADD, (self.recruiter, self.pool_id))
        end = min(world.until, self.pool_out or world.until, self.opted_out_at or world.until)
        if self.pool_out is not None:
            automated = self.pool_out_reason == "unreachable"
            recruiter = None if automated else self.recruiter
            self.add_sparse(
                self.pool_out,
                "removed_from_talent_pool",
                K_POOL_REMOVE,
                (recruiter, automated, self.pool_id, self.pool_out_reason),
            )
        first = bisect_right(pool.content_times, self.pool_in)
        for index in range(first, bisect_left(pool.content_times, end)):
            if rng.random() >= truth.content_delivered:
                continue
            kind, content_id, campaign = pool.content[index]
            by_hand = rng.random() < truth.content_by_recruiter
            self.add(
                pool.content_times[index],
                "content_shared",
                K_CONTENT if by_hand else K_AUTOMATED_CONTENT,
                (self.recruiter, False, kind, content_id, "email", campaign)
                if by_hand
                else (True, kind, content_id, "email", campaign),
            )
        warm_until = min(end, pool.neglected_from or end)
        at = self.pool_in
        while True:
            at = office(at + int(rng.expovariate(1 / (truth.check_in_every_days * DAY))) + DAY, rng)
            if at >= warm_until:
                break
            if rng.random() < truth.opportunity_note_share:
                occasion = "opportunity"
                body = f"Hi {self.first}, a {self.area.replace('_', ' ')} study is starting up."
            else:
                occasion = "check_in"
                body = f"Hi {self.first}, how are your studies going? Anything I can help with?"
            self.add(
                at,
                "personal_note_sent",
                K_NOTE,
                (self.recruiter, occasion, "email", {"body": body}),
            )

    def _enrichment(self, registered: int) -> None:
        """Automation notices promotions and certifications; recruiters may congratulate."""
        world, rng, truth = self.world, self.rng, GROUND_TRUTH
        at = registered
        while True:
            at += int(rng.expovariate(truth.enrichment_per_year / (365 * DAY))) + HOUR
            if at >= world.until:
                return
            change = ENRICHMENT_KINDS.pick(rng)
            certification = None
            profile: dict[str, str] | None = None
            if change == "certification":
                missing = [c for c in CERTIFICATIONS[self.role] if c not in self.certifications]
                certification = pick_from(rng, missing or ["other"])
                self.certifications.add(certification)
            elif change == "promotion":
                profile = {"title": f"Senior {ROLE_TITLE[self.role]}"}
            else:
                profile = {"employer": pick_from(rng, EMPLOYERS)}
            self.add_sparse(
                at, "profile_enriched", K_ENRICHED, (True, change, certification, profile)
            )
            if change == "employer_change" or rng.random() >= self._congratulations_chance(at):
                continue
            noted = office(at + draw_between(rng, HOUR, 10 * DAY), rng)
            if self.opted_out_at is not None and noted >= self.opted_out_at:
                continue
            if change == "promotion":
                occasion, body = (
                    "congratulations_promotion",
                    f"Congratulations on the promotion, {self.first}!",
                )
            else:
                name = CERT_NAME[certification or "other"]
                occasion, body = (
                    "congratulations_certification",
                    f"Congratulations on your {name} certification, {self.first}!",
                )
            self.add(
                noted,
                "personal_note_sent",
                K_NOTE,
                (self.recruiter, occasion, "email", {"body": body}),
            )

    def _congratulations_chance(self, ts: int) -> float:
        chances = GROUND_TRUTH.congratulations
        in_pool = (
            self.pool_id is not None
            and self.pool_in <= ts
            and (self.pool_out is None or ts < self.pool_out)
        )
        if not in_pool:
            return chances["no_pool"]
        neglected = self.world.pool(self.pool_id or "", self.area).neglected_from
        if neglected is not None and ts >= neglected:
            return chances["neglected_pool"]
        return chances["nurtured_pool"]

    def _erasure(self) -> None:
        """A few candidates ask to be forgotten at the end of their history: nothing follows."""
        rng, truth = self.rng, GROUND_TRUTH
        chance = truth.erasure if self.opted_out_at is None else truth.erasure_after_opt_out
        if rng.random() >= chance:
            return
        world = self.world
        last = world.start + max(event[0] for event in self.events if event[0] < world.horizon)
        at = last + draw_between(rng, HOUR, 60 * DAY)
        if at < self.world.until:
            self.add(at, "erasure_requested", K_NONE, ())
