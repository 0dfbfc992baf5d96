-- depends_on: {{ ref('ar_invoices') }}
{{ hubs_stage('hub5_financial', 'invoice_load_matches') }}
