-- depends_on: {{ ref('legal_entities') }}
-- depends_on: {{ ref('parties') }}
-- depends_on: {{ ref('gl_accounts') }}
{{ hubs_stage('hub5_financial', 'ap_bills') }}
