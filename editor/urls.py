from django.urls import path, re_path

from editor import (
    analysis_api,
    api,
    auth,
    compare,
    drawings,
    exports,
    flows_upload,
    observation_views,
    observations_api,
    rule_pages,
    views,
)

SLUG = r"(?P<slug>[A-Za-z0-9_-]{20,64})"

urlpatterns = [
    path("", views.editor, name="editor"),
    path("d/", drawings.drawing_list, name="drawings"),
    path("d/compare", compare.compare_revisions, name="compare_revisions"),
    re_path(rf"^d/{SLUG}\.yaml$", views.revision_yaml, name="revision_yaml"),
    re_path(rf"^d/{SLUG}\.svg$", exports.revision_picture, {"kind": "svg"}, name="revision_svg"),
    re_path(rf"^d/{SLUG}\.png$", exports.revision_picture, {"kind": "png"}, name="revision_png"),
    re_path(rf"^d/{SLUG}/bundle\.zip$", exports.revision_bundle, name="revision_bundle"),
    re_path(rf"^d/{SLUG}/compare$", compare.compare_revision, name="compare_revision"),
    path("export/bundle.zip", exports.posted_export, {"what": "bundle.zip"}, name="export_bundle"),
    path("export/picture.svg", exports.posted_export, {"what": "picture.svg"}, name="export_svg"),
    path("export/picture.png", exports.posted_export, {"what": "picture.png"}, name="export_png"),
    re_path(rf"^d/{SLUG}$", views.revision, name="revision"),
    re_path(rf"^d/{SLUG}/edit$", views.edit_revision, name="edit_revision"),
    re_path(rf"^d/{SLUG}/history$", views.history, name="history"),
    re_path(rf"^d/{SLUG}/observations$", observation_views.observations, name="observations"),
    re_path(rf"^d/{SLUG}/observations/streams$", observation_views.create_stream, name="create_stream"),
    re_path(rf"^d/{SLUG}/observations/revoke$", observation_views.revoke_stream, name="revoke_stream"),
    re_path(rf"^d/{SLUG}/observations/stage$", observation_views.stage, name="stage"),
    re_path(rf"^d/{SLUG}/observations/add$", observation_views.add_observed, name="add_observed"),
    re_path(rf"^d/{SLUG}/observations/promote$", observation_views.promote, name="promote"),
    re_path(rf"^d/{SLUG}/observations/drift$", observation_views.drift_action, name="drift_action"),
    path("panel/import", views.import_panel, name="import_panel"),
    path("panel/import/form", views.import_form, name="import_form"),
    path("panel/<slug:what>", views.panel, name="panel"),
    path("accounts/login", auth.login, name="login"),
    path("accounts/logout", auth.logout, name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("csp-report", views.csp_report, name="csp_report"),
    path("api/csrf", api.csrf, name="api_csrf"),
    path("api/compile", api.compile_view, name="api_compile"),
    path("api/import", api.import_view, name="api_import"),
    path("api/templates/<slug:name>", api.template_view, name="api_template"),
    path("api/documents", api.save_view, name="api_save"),
    re_path(rf"^api/documents/{SLUG}$", api.load_view, name="api_load"),
    re_path(rf"^api/documents/{SLUG}/history$", api.history_view, name="api_history"),
    re_path(rf"^api/documents/{SLUG}/compiled$", api.revision_compiled_view, name="api_revision_compiled"),
    re_path(rf"^api/documents/{SLUG}/editors$", api.editors_view, name="api_editors"),
    path("api/lint", analysis_api.lint_view, name="api_lint"),
    path("api/lint/fix", analysis_api.fix_view, name="api_lint_fix"),
    path("api/isolation", analysis_api.isolation_view, name="api_isolation"),
    path("api/check", analysis_api.check_view, name="api_check"),
    path("api/check/cell", analysis_api.check_cell_view, name="api_check_cell"),
    path("api/flows", flows_upload.flows_view, name="api_flows"),
    re_path(rf"^api/observations/{SLUG}$", observations_api.intake_view, name="api_observations"),
    path("rules/", rule_pages.rules_index, name="rules_index"),
    re_path(r"^rules/(?P<page>FL\d{3}|rating)$", rule_pages.rule_page, name="rule_page"),
]

handler400 = "editor.views.bad_request"
handler403 = "editor.views.permission_denied"
handler404 = "editor.views.not_found"
handler500 = "editor.views.server_error"
