-- int__member_household_step: one round of label propagation over shared subscriber_ids.
-- Reads `household_label` (member_id, household_id: the previous round's labels) and
-- stg__eligibility. A member takes the smallest label among every member it shares a
-- subscriber_id with, on any of their eligibility rows (its own label included); a member
-- without a subscriber_id keeps its own. Repeated until no label changes (ecm/shards.py),
-- the labels are the connected components: a household is every member linked to another
-- through a chain of shared subscriber_ids, even when a member's subscriber_id changed
-- between spans. Grain: one row per member_id.
with

links as (
    select distinct member_id, subscriber_id
    from stg__eligibility
    where subscriber_id is not null and member_id is not null
),

smallest_per_subscriber as (
    select
        links.subscriber_id,
        min(label.household_id) as household_id
    from links
    inner join household_label as label on links.member_id = label.member_id
    group by all
),

smallest_reached as (
    select
        links.member_id,
        min(smallest.household_id) as household_id
    from links
    inner join smallest_per_subscriber as smallest on links.subscriber_id = smallest.subscriber_id
    group by all
),

final as (
    select
        label.member_id,
        least(label.household_id, coalesce(reached.household_id, label.household_id))
            as household_id
    from household_label as label
    left join smallest_reached as reached on label.member_id = reached.member_id
)

select * from final
