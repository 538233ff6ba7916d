-- The projection: relational rows derived from each household document, rewritten in the same
-- transaction as every merge and rebuildable from the documents alone (`zoufang-server
-- reindex`). Nothing here is a source of truth. The same file serves both backends: TEXT,
-- BIGINT and ISO dates (YYYY-MM-DD text, which orders as dates) mean the same in each, so one
-- piece of SQL reads them.

CREATE TABLE p_households (
    id             TEXT PRIMARY KEY NOT NULL,
    area_code      TEXT NOT NULL,
    household_no   TEXT,
    head_name      TEXT NOT NULL,
    -- Sensitive: masked on the way out for roles that need no more.
    head_id        TEXT,
    phone          TEXT,
    status         TEXT,
    monitoring     TEXT,
    attribute      TEXT,
    main_cause     TEXT,
    persons        BIGINT NOT NULL,
    income_year    BIGINT,
    net_income     BIGINT,
    per_capita     BIGINT,
    prev_net_income BIGINT,
    last_visit     TEXT,
    errors         BIGINT NOT NULL,
    warnings       BIGINT NOT NULL,
    conflicts      BIGINT NOT NULL,
    -- 两不愁三保障 + income criteria the household fails, comma-separated codes ('' = none).
    failed_criteria TEXT NOT NULL,
    -- Time of the newest change in the document (not of the write), so a rebuild is identical.
    changed_at     TEXT NOT NULL
);
CREATE INDEX p_households_area ON p_households (area_code, id);

CREATE TABLE p_members (
    household_id TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    area_code    TEXT NOT NULL,
    name         TEXT NOT NULL,
    id_number    TEXT,
    sex          TEXT,
    relation     TEXT,
    birth_date   TEXT,
    health       TEXT,
    is_current   BIGINT NOT NULL,
    PRIMARY KEY (household_id, member_id)
);
CREATE INDEX p_members_id_number ON p_members (id_number);

CREATE TABLE p_cases (
    household_id    TEXT NOT NULL,
    case_id         TEXT NOT NULL,
    area_code       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    origin          TEXT,
    proposed_on     TEXT NOT NULL,
    -- proposed, passed, returned or rejected; stage_step is the step it applies to.
    stage           TEXT NOT NULL,
    stage_step      TEXT,
    persons         BIGINT NOT NULL,
    publicity_start TEXT,
    publicity_end   TEXT,
    objections      BIGINT NOT NULL,
    PRIMARY KEY (household_id, case_id)
);
CREATE INDEX p_cases_area ON p_cases (area_code, proposed_on);

CREATE TABLE p_steps (
    household_id TEXT NOT NULL,
    case_id      TEXT NOT NULL,
    step_id      TEXT NOT NULL,
    step         TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    day          TEXT NOT NULL,
    actor        TEXT NOT NULL,
    comment      TEXT NOT NULL,
    PRIMARY KEY (household_id, case_id, step_id)
);

CREATE TABLE p_visits (
    household_id TEXT NOT NULL,
    visit_id     TEXT NOT NULL,
    day          TEXT NOT NULL,
    visitor      TEXT NOT NULL,
    mode         TEXT NOT NULL,
    PRIMARY KEY (household_id, visit_id)
);

CREATE TABLE p_helpers (
    household_id TEXT NOT NULL,
    helper_id    TEXT NOT NULL,
    area_code    TEXT NOT NULL,
    name         TEXT NOT NULL,
    unit         TEXT,
    -- A helper is one person across households by name and unit (no ID is recorded).
    helper_key   TEXT NOT NULL,
    PRIMARY KEY (household_id, helper_id)
);
CREATE INDEX p_helpers_key ON p_helpers (helper_key);

CREATE TABLE p_flags (
    household_id TEXT NOT NULL,
    n            BIGINT NOT NULL,
    area_code    TEXT NOT NULL,
    code         TEXT NOT NULL,
    severity     TEXT NOT NULL,
    message      TEXT NOT NULL,
    member_id    TEXT,
    PRIMARY KEY (household_id, n)
);
CREATE INDEX p_flags_area ON p_flags (area_code);

CREATE TABLE p_conflicts (
    household_id TEXT NOT NULL,
    path         TEXT NOT NULL,
    area_code    TEXT NOT NULL,
    n_values     BIGINT NOT NULL,
    PRIMARY KEY (household_id, path)
);
CREATE INDEX p_conflicts_area ON p_conflicts (area_code);

-- Browser sessions of the review pages. Only the token's SHA-256 is kept.
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- The 督查组's daily samples and what the check found.
CREATE TABLE spot_checks (
    township     TEXT NOT NULL,
    day          TEXT NOT NULL,
    household_id TEXT NOT NULL,
    village      TEXT NOT NULL,
    drawn_by     TEXT NOT NULL,
    result       TEXT,
    note         TEXT,
    checked_by   TEXT,
    checked_at   TEXT,
    PRIMARY KEY (township, day, household_id)
);
