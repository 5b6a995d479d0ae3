-- Shared normalisation and row checks, loaded once per connection before any model
-- (temporary macros: nothing is stored in the warehouse, and read-only connections work).
-- Normalisation follows docs/POPULATIONS.md, "Claims as delivered".
-- A check macro returns NULL when the value passes, else 'rule|detail': the rule a
-- quarantined row broke and a sentence naming the column and what was expected.

create or replace temp macro ecm_text(x) as nullif(trim(x), '');

-- A date in one of the forms of docs/FEEDS.md ("Dates"), else NULL. Each form is told by
-- its shape and parsed with its one format, so a value is never read in a form it is not
-- in: the year has four digits (a two-digit year is ambiguous and refused), YYYYMMDD
-- eight. ISO YYYY-MM-DD comes first, by DuckDB's own cast; an ISO date-time is the date
-- as written (its time checked, its offset ignored: the writer's calendar day). Measured
-- on 2M values, one thread: ISO 0.24 s, YYYYMMDD and MM/DD/YYYY 1.5 s, DD-Mon-YYYY and
-- date-times 2.3-2.6 s (the list of formats tried in turn it replaces: 0.41, 2.1, 3.9 s).
create or replace temp macro ecm_date_form(t) as
    case
        when t like '____-__-__' and left(t, 1) between '0' and '9' then try_cast(t as date)
        when (t like '____-__-__T%' or t like '____-__-__ %') and left(t, 1) between '0' and '9'
            then case when regexp_full_match(substr(t, 11),
                     '[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?')
                 then try_cast(substr(t, 1, 10) as date) end
        when length(t) = 8 and regexp_full_match(t, '[0-9]{8}') then try_strptime(t, '%Y%m%d')::date
        when t like '%/%/____' then try_strptime(t, '%m/%d/%Y')::date
        when t like '%-___-____' then try_strptime(t, '%d-%b-%Y')::date
        when length(t) between 8 and 9 and regexp_full_match(t, '[0-9]{1,2}[A-Za-z]{3}[0-9]{4}')
            then try_strptime(t, '%d%b%Y')::date
        when regexp_full_match(t, '[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}') then try_strptime(t, '%Y-%m-%d')::date
    end;

create or replace temp macro ecm_date(x) as
    case
        when x like '____-__-__' and left(x, 1) between '0' and '9' then try_cast(x as date)
        when x is not null then ecm_date_form(trim(x))
    end;

-- A month (a reporting period) as its first day, else NULL: YYYY-MM, YYYYMM, MM/YYYY
-- (the month may have one digit: 2026-1, 1/2026), with a four-digit year; or a date in
-- one of ecm_date's forms, standing for its month (a workbook's cell formatted as a month
-- holds a date).
create or replace temp macro ecm_period(x) as
    case
        when regexp_full_match(trim(x), '[0-9]{4}-[0-9]{1,2}') then try_strptime(trim(x), '%Y-%m')::date
        when regexp_full_match(trim(x), '[0-9]{6}') then try_strptime(trim(x), '%Y%m')::date
        when regexp_full_match(trim(x), '[0-9]{1,2}/[0-9]{4}') then try_strptime(trim(x), '%m/%Y')::date
        else date_trunc('month', ecm_date(x))::date
    end;

-- A whole number, else NULL: digits with an optional sign, and `.0` after them allowed
-- (`22.0` is 22: pandas writes integer columns with empty rows as floats). DuckDB's own
-- cast would round `4.5` to 5 and read `1e3` or `0x10`: the shape is checked first.
create or replace temp macro ecm_integer(x) as
    case when regexp_full_match(x, '\s*[+-]?[0-9]+(\.0*)?\s*') then try_cast(trim(x) as integer) end;

-- ICD-10 (and ICD-9 history): no dots, no spaces, upper case.
create or replace temp macro ecm_icd(x) as nullif(upper(replace(replace(trim(x), '.', ''), ' ', '')), '');

-- Revenue code: 4 digits, zero-padded ('450' = '0450', '22' = '0022'; a Parquet integer
-- column arrives here as its text, '22').
create or replace temp macro ecm_revenue_code(x) as
    case when regexp_full_match(ecm_text(x), '[0-9]{1,3}') then lpad(ecm_text(x), 4, '0')
         else ecm_text(x) end;

-- Place of service: 2 digits.
create or replace temp macro ecm_place_of_service(x) as
    case when regexp_full_match(ecm_text(x), '[0-9]') then '0' || ecm_text(x) else ecm_text(x) end;

-- Bill type: its 3-character type of bill ('0111' = '111'); the frequency digit may be a letter.
create or replace temp macro ecm_bill_type(x) as
    upper(case when regexp_full_match(ecm_text(x), '0[0-9A-Za-z]{3}') then substr(ecm_text(x), 2)
               else ecm_text(x) end);

-- Admit type without leading zeros (the rules file decides which codes mean "empty").
create or replace temp macro ecm_admit_type(x) as nullif(ltrim(ecm_text(x), '0'), '');

-- Two-digit codes (discharge disposition): zero-padded.
create or replace temp macro ecm_two_digit(x) as
    case when regexp_full_match(ecm_text(x), '[0-9]') then '0' || ecm_text(x) else ecm_text(x) end;

-- MS-DRG: three digits, zero-padded.
create or replace temp macro ecm_drg(x) as
    case when regexp_full_match(ecm_text(x), '[0-9]{1,4}')
         then lpad(coalesce(nullif(ltrim(ecm_text(x), '0'), ''), '0'), 3, '0')
         else ecm_text(x) end;

create or replace temp macro ecm_hcpcs(x) as upper(ecm_text(x));

-- NDC: digits only (the dashes of the 4-4-2 / 5-3-2 / 5-4-1 forms dropped).
create or replace temp macro ecm_ndc(x) as regexp_replace(ecm_text(x), '-', '', 'g');

-- Y/N answers; TRUE/FALSE too (a boolean column of a Parquet or Excel file reads as text
-- 'true'/'false').
create or replace temp macro ecm_yes_no(x) as
    case upper(ecm_text(x)) when 'Y' then 'Y' when 'YES' then 'Y' when '1' then 'Y'
                            when 'TRUE' then 'Y'
                            when 'N' then 'N' when 'NO' then 'N' when '0' then 'N'
                            when 'FALSE' then 'N' end;

-- Shapes of well-formed codes are data: data_contracts/shapes.toml (the pattern each
-- normalised code must match), used by the checks generated from the contracts
-- (data_contracts/sql.py).

-- Row checks (called by the SQL generated from the contracts) ---------------------------

create or replace temp macro ecm_check_present(x, col) as
    case when ecm_text(x) is null then 'missing_value|' || col || ' is empty' end;

-- The same checks on a value parsed once (data_contracts/sql.py: the checked select
-- parses each typed column once and passes the parsed value on to the staging model).
-- `expected`: the accepted forms, in words (data_contracts/sql.py, DATE_FORMATS).
create or replace temp macro ecm_check_parsed_date(x, parsed, col, expected) as
    case when parsed is null and ecm_text(x) is not null
         then 'unparseable_date|' || col || ' ''' || x || ''' is not a date (expected '
              || expected || ')' end;

create or replace temp macro ecm_check_parsed_integer(x, parsed, col) as
    case when parsed is null and ecm_text(x) is not null
         then 'malformed_value|' || col || ' ''' || x || ''' is not a whole number' end;

create or replace temp macro ecm_check_at_least(x, parsed, col, least) as
    case when parsed < least
         then 'malformed_value|' || col || ' ''' || x || ''' is less than ' || least end;

create or replace temp macro ecm_check_parsed_period(x, parsed, col, expected) as
    case when parsed is null and ecm_text(x) is not null
         then 'unparseable_date|' || col || ' ''' || x || ''' is not a month (expected '
              || expected || ')' end;

-- The same checks on a value delivered in its own type (a Parquet file's date or integer,
-- data_contracts/sql.py): `parsed` is null where its text would not parse; the detail
-- quotes that text, formatted only for a failing row.
create or replace temp macro ecm_check_typed_present(x, col) as
    case when x is null then 'missing_value|' || col || ' is empty' end;

create or replace temp macro ecm_check_typed_date(x, parsed, col, expected) as
    case when parsed is null and x is not null
         then 'unparseable_date|' || col || ' ''' || cast(x as varchar)
              || ''' is not a date (expected ' || expected || ')' end;

create or replace temp macro ecm_check_typed_integer(x, parsed, col) as
    case when parsed is null and x is not null
         then 'malformed_value|' || col || ' ''' || cast(x as varchar)
              || ''' is not a whole number' end;

create or replace temp macro ecm_check_parsed_order(start_parsed, end_parsed, start_value,
                                                   end_value, start_col, end_col) as
    case when end_parsed < start_parsed
         then 'end_before_start|' || end_col || ' ' || ecm_text(end_value)
              || ' is before ' || start_col || ' ' || ecm_text(start_value) end;

create or replace temp macro ecm_check_order(start_value, end_value, start_col, end_col) as
    case when ecm_date(end_value) < ecm_date(start_value)
         then 'end_before_start|' || end_col || ' ' || ecm_text(end_value)
              || ' is before ' || start_col || ' ' || ecm_text(start_value) end;

create or replace temp macro ecm_check_shape(normalised, raw, col, pattern, expected) as
    case when normalised is not null and not regexp_full_match(normalised, pattern)
         then 'malformed_code|' || col || ' ''' || raw || ''' is not ' || expected end;

create or replace temp macro ecm_check_choice(x, choices, col) as
    case when ecm_text(x) is not null and not list_contains(choices, lower(ecm_text(x)))
         then 'unknown_value|' || col || ' ''' || x || ''' is not one of: '
              || array_to_string(choices, ', ') end;

create or replace temp macro ecm_check_choice_upper(x, choices, col) as
    case when ecm_text(x) is not null and not list_contains(choices, upper(ecm_text(x)))
         then 'unknown_value|' || col || ' ''' || x || ''' is not one of: '
              || array_to_string(choices, ', ') end;

create or replace temp macro ecm_check_yes_no(x, col) as
    case when ecm_text(x) is not null and ecm_yes_no(x) is null
         then 'unknown_value|' || col || ' ''' || x || ''' is not Y or N' end;

-- The first failing check of a row (NULL when the row passes).
create or replace temp macro ecm_first_failure(checks) as list_filter(checks, lambda c: c is not null)[1];
