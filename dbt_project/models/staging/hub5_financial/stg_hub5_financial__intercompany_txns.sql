-- depends_on: {{ ref('legal_entities') }}
-- depends_on: {{ ref('ar_invoices') }}
{{ hubs_stage('hub5_financial', 'intercompany_txns') }}
