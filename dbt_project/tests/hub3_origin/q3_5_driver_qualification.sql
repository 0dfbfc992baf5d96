{{ config(severity='warn', tags=['validation', 'hub3_origin'],
          meta={'dagster': {'ref': {'name': 'hos_events'}},
                'validation': 'Q3.5', 'description': 'No driving (HOS duty status D, active records) while the CDL or medical certificate was expired.'}) }}
{#- Q3.5 Driver qualification. Warn: the data is true, the world was out of compliance; safety
    must act, the pipeline need not stop. One row per driver and lapsed document. -#}
select 'driving_with_expired_' || document as problem, driver_code as key,
       format('%s driving events after %s expired on %s (last %s)', count(*), document, expired_on, max(event_at)) as detail
from (
    select e.driver_code, e.event_at, x.document, x.expired_on
    from {{ ref('hos_events') }} as e
    join {{ ref('drivers') }} as d on d.driver_code = e.driver_code
    cross join lateral (values ('cdl', d.cdl_expires_on), ('medical_certificate', d.med_cert_expires_on)) as x (document, expired_on)
    where e.event_type = 1 and e.event_code = 3 and e.record_status = 1
      and (x.expired_on is null or e.event_at::date > x.expired_on)
) as lapsed
group by driver_code, document, expired_on
