-- depends_on: {{ ref('parties') }}
-- depends_on: {{ ref('ar_invoices') }}
{{ hubs_stage('hub5_financial', 'factoring_assignments') }}
