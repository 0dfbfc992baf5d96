-- depends_on: {{ ref('legal_entities') }}
{{ hubs_stage('hub5_financial', 'gl_accounts') }}
