"""Web forms straight from the browser (docs/web-forms.md).

* `POST /v1/forms/{form_key}`: a plain HTML `<form method="post">` (no JavaScript) posts here
  with its publishable key (`l2i_pk_...`) in the path. The lead goes through the same pipeline
  as `POST /v1/leads`; the answer is a `303 See Other` to the key's `success_url` (or the small
  built-in page `/v1/form-sent`), sent after the commit. An error redirects to the key's
  `error_url` with `?error=<problem code>&fields=<bad fields>`, or shows a small page naming the
  bad fields with the problem's status. The honeypot field `_gotcha` (hidden from people, filled
  by bots) stores nothing and answers exactly as if the lead were taken.
* `GET /v1/forms.js`: the consent snippet (no third-party code) that posts a form to
  `POST /v1/leads` with `fetch()` and fills the `consent` block from the page.
* `GET /v1/form-sent`: the built-in thank-you page.
"""

from __future__ import annotations

import html
from email import policy
from email.parser import BytesParser
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lead2inbound.access.auth import Principal
from lead2inbound.contract.problems import ProblemError
from lead2inbound.contract.wire import check_url
from lead2inbound.intake.evidence import with_evidence
from lead2inbound.intake.forms import parse_form
from lead2inbound.intake.validation import parse_lead
from lead2inbound.web.http import FORM, PROBLEM_JSON, outage, read_body
from lead2inbound.web.openapi import Op, Resp, path
from lead2inbound.web.resources.common import unsupported
from lead2inbound.web.resources.leads import prepare_for

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

MULTIPART = "multipart/form-data"
HONEYPOT = "_gotcha"
SENT_PAGE = "/v1/form-sent"
HTML = "text/html; charset=utf-8"
MAX_PARTS = 1000

_FORM_STATUSES = (400, 401, 403, 408, 413, 415, 422, 429, 503)


def multipart_pairs(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """The text fields of a multipart/form-data body, in order; file parts are ignored."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    try:
        msg = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    except Exception:  # the email parser is lenient; anything it still cannot read is a 400
        raise ProblemError("bad_request", "The multipart body could not be parsed.") from None
    if not msg.is_multipart():
        raise ProblemError("bad_request", "The multipart body has no parts (check the boundary).")
    pairs: list[tuple[str, str]] = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            pairs.append((name, payload.decode(charset)))
        except (LookupError, UnicodeDecodeError):
            raise ProblemError("bad_request", f"The field {name!r} is not valid text.") from None
        if len(pairs) > MAX_PARTS:
            raise ProblemError("payload_too_large", f"At most {MAX_PARTS} form fields.")
    return pairs


def form_pairs(req: Any, body: bytes) -> list[tuple[str, str]]:
    """A browser's form body (urlencoded or multipart) as (name, value) pairs; else a 415."""
    raw = req.content_type or ""
    kind = raw.split(";")[0].strip().lower()
    if kind == FORM:
        try:
            return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_PARTS)
        except UnicodeDecodeError:
            raise ProblemError("bad_request", "The form body is not valid utf-8.") from None
        except ValueError:
            raise ProblemError("payload_too_large", f"At most {MAX_PARTS} form fields.") from None
    if kind == MULTIPART:
        return multipart_pairs(body, raw)
    raise unsupported(kind, (FORM, MULTIPART))


def _stored_url(url: str | None) -> str | None:
    """A key's redirect URL if it is still a valid one: a key stored before URLs were checked at
    creation may hold a control character, which would split the `Location` header (a 500 after
    the lead was committed); such a key's form answers as if it had none."""
    if not url:
        return None
    try:
        return check_url(url, "url")
    except ValueError:
        return None


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _page(title: str, body: str) -> bytes:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{html.escape(title)}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;
color:#1f2937}}h1{{font-size:1.4rem}}li{{margin:.2rem 0}}code{{background:#f3f4f6;padding:0 .2rem}}
</style></head><body>{body}</body></html>
""".encode()


def error_page(exc: ProblemError) -> bytes:
    items = "".join(
        f"<li><code>{html.escape(e.param)}</code>: {html.escape(e.detail)}</li>"
        for e in exc.errors or ()
    )
    return _page(
        "Please check the form",
        f"<h1>Please check the form</h1><p>{html.escape(exc.detail)}</p>"
        + (f"<ul>{items}</ul>" if items else "")
        + "<p>Go back, correct it and send it again.</p>",
    )


def _see_other(resp: Any, url: str) -> None:
    resp.status = 303
    resp.set_header("Location", url)
    resp.set_header("Cache-Control", "no-store")
    resp.content_type = HTML
    link = html.escape(url, quote=True)
    resp.data = _page("Sent", f'<p><a href="{link}">Continue</a></p>')


THANKS_PAGE = _page(
    "Thank you",
    "<h1>Thank you!</h1><p>Your details were received. You may close this page.</p>",
)

_HTML_SCHEMA = {"type": "string"}


class FormResource:
    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Send a lead from a plain HTML form",
            description='For `<form method="post" action=".../v1/forms/l2i_pk_live_...">` '
            "with no JavaScript: the publishable key (`l2i_pk_`) is in the path (a secret key "
            "is refused there), the fields are a lead's with the same names as `POST "
            "/v1/leads` takes in a form (bracket or flat names). A consent block with no "
            "`consent_timestamp` gets the time of receipt; the browser's address, user agent "
            "and page fill the block's missing `ip_address`, `user_agent`, `source_url`. The "
            "honeypot field `_gotcha` stores nothing and answers as if accepted; other names "
            "starting with `_` are ignored. Only from the key's allowed origins, within its "
            "per-minute and per-client-address limits. See docs/web-forms.md.",
            raw_body=(
                FORM,
                {"type": "object", "additionalProperties": {"type": "string"}},
            ),
            parameters=(
                path(
                    "form_key",
                    "The form's publishable key, `l2i_pk_live_...` (safe to publish).",
                    {"type": "string", "pattern": "^l2i_pk_(live|test)_[0-9A-Za-z_]+$"},
                ),
            ),
            responses=(
                Resp(
                    303,
                    "Taken (committed first), or caught by the honeypot: on to the key's "
                    "`success_url` or the built-in thank-you page; with an `error_url`, errors "
                    "go there too (`?error=<code>&fields=<names>`).",
                    headers=("Location",),
                ),
            ),
            errors=_FORM_STATUSES,
            html_errors=True,
            notes=tuple(
                (
                    status,
                    "When the key has no `error_url`: a small HTML page saying what went wrong "
                    "for a browser (`Accept: text/html`), else the problem body.",
                )
                for status in _FORM_STATUSES
            ),
            tags=("forms",),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any, form_key: str) -> None:
        principal: Principal | None = None
        try:
            principal = await self.s.authenticate(req, form_key=form_key)
            await self.s.charge(req, principal, 1, "write")
            body = await self._body(req)
            pairs = form_pairs(req, body)
            if any(name == HONEYPOT and value.strip() for name, value in pairs):
                self._sent(resp, principal)  # a bot: nothing stored, nothing told
                return
            fields = urlencode([(n, v) for n, v in pairs if not n.startswith("_")]).encode()
            data, names = parse_form(fields)
            lead, names = parse_lead(data, strict=False, names=names)
            lead = with_evidence(lead, self.s.browser_evidence(req, stamp=True))
            prepared = prepare_for(self.s, principal, lead, names)
            await self.s.dnc.gate(prepared)
            result = await self.s.writer.write(prepared)  # answers after the commit
            self.s.metrics.lead(result)
            self.s.dnc.after_write(prepared, result)
        except ProblemError as exc:
            self._failed(req, resp, exc, principal)
            return
        except Exception as exc:
            problem = outage(exc)
            if problem is None:
                raise
            self._failed(req, resp, problem, principal)
            return
        self._sent(resp, principal)

    async def _body(self, req: Any) -> bytes:
        return await read_body(req, self.s.config.max_body_bytes)

    @staticmethod
    def _sent(resp: Any, principal: Principal) -> None:
        _see_other(resp, _stored_url(principal.success_url) or SENT_PAGE)

    @staticmethod
    def _failed(req: Any, resp: Any, exc: ProblemError, principal: Principal | None) -> None:
        """To the key's error URL; else a small page for a browser (it asks for `text/html`),
        and the usual problem body for anything else (curl, scripts, tests)."""
        error_url = _stored_url(principal.error_url) if principal is not None else None
        if error_url:
            fields = ",".join(dict.fromkeys(e.param for e in exc.errors or ()))
            params = {"error": exc.code, **({"fields": fields} if fields else {})}
            _see_other(resp, _with_query(error_url, params))
            return
        if req.client_prefers((PROBLEM_JSON, "text/html")) != "text/html":
            raise exc  # the app's problem handler: application/problem+json
        for name, value in exc.headers:
            resp.set_header(name, value)
        resp.set_header("Cache-Control", "no-store")
        resp.status = exc.status
        resp.content_type = HTML
        resp.data = error_page(exc)


class FormSentResource:
    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="The built-in thank-you page",
            description="Where a plain HTML form lands when its key has no `success_url`.",
            responses=(
                Resp(200, "A small HTML page.", media="text/html", raw_schema=_HTML_SCHEMA),
            ),
            tags=("forms",),
        )
    }

    async def on_get(self, req: Any, resp: Any) -> None:
        resp.status = 200
        resp.content_type = HTML
        resp.data = THANKS_PAGE


class FormsScriptResource:
    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="The consent snippet (forms.js)",
            description="A small script with no third-party code: include it with "
            '`<script src=".../v1/forms.js" defer></script>` and mark the form with '
            '`data-l2i-key="l2i_pk_live_..."`; it posts the form to `POST /v1/leads` and '
            "fills `consent` from the page (the text of the element marked "
            "`data-l2i-consent`, its `data-l2i-consent-version`, the page URL, the submission "
            "time, TrustedForm and Jornaya ids when present). See docs/lead-sources.md.",
            responses=(Resp(200, "The script.", media="text/javascript", raw_schema=_HTML_SCHEMA),),
            tags=("forms",),
        )
    }

    async def on_get(self, req: Any, resp: Any) -> None:
        resp.status = 200
        resp.content_type = "text/javascript; charset=utf-8"
        resp.set_header("Cache-Control", "public, max-age=300")
        resp.data = FORMS_JS


FORMS_JS = rb"""/* lead2inbound forms.js: send a web form to POST /v1/leads with a publishable key.
 * <form data-l2i-key="l2i_pk_live_..."> ... <p data-l2i-consent data-l2i-consent-version="v3">
 * By submitting ...</p> ... </form>  <script src="https://intake.example/v1/forms.js" defer>
 * Optional on the form: data-l2i-success="https://..." (go there when sent),
 * data-l2i-endpoint="https://..." (another service URL than this script's origin).
 * An element marked data-l2i-result shows the outcome. No third-party code, no cookies.
 */
(function () {
  "use strict";
  var me = document.currentScript;
  var base = me && me.src ? new URL(me.src).origin : "";
  var SKIP = { xxTrustedFormCertUrl: 1, xxTrustedFormToken: 1, xxTrustedFormPingUrl: 1,
               universal_leadid: 1 };

  function put(obj, name, value) {
    var parts = name.replace(/\]/g, "").split("[");
    var at = obj;
    for (var i = 0; i < parts.length - 1; i++) {
      if (typeof at[parts[i]] !== "object" || at[parts[i]] === null) at[parts[i]] = {};
      at = at[parts[i]];
    }
    var last = parts[parts.length - 1];
    if (last === "") return;
    if (at[last] === undefined) at[last] = value;
    else if (Array.isArray(at[last])) at[last].push(value);
    else at[last] = [at[last], value];
  }

  function field(form, names) {
    for (var i = 0; i < names.length; i++) {
      var el = form.querySelector('[name="' + names[i] + '"]') ||
               document.querySelector('[name="' + names[i] + '"]');
      if (el && el.value) return el.value;
    }
    return undefined;
  }

  function collect(form) {
    var lead = {};
    new FormData(form).forEach(function (value, name) {
      if (typeof value !== "string" || value === "" || name.charAt(0) === "_" || SKIP[name]) return;
      put(lead, name, value);
    });
    var shown = form.querySelector("[data-l2i-consent]");
    if (shown) {
      var consent = typeof lead.consent === "object" && lead.consent ? lead.consent : {};
      consent.consent_text = consent.consent_text ||
        (shown.innerText || shown.textContent || "").replace(/\s+/g, " ").trim();
      var version = shown.getAttribute("data-l2i-consent-version");
      if (version && !consent.consent_text_version) consent.consent_text_version = version;
      consent.source_url = consent.source_url || location.href;
      consent.consent_timestamp = consent.consent_timestamp || new Date().toISOString();
      var cert = field(form, ["xxTrustedFormCertUrl"]);
      if (cert && !consent.trustedform_cert_url) consent.trustedform_cert_url = cert;
      var jornaya = field(form, ["universal_leadid"]);
      if (jornaya && !consent.jornaya_leadid) consent.jornaya_leadid = jornaya;
      lead.consent = consent;
    }
    return lead;
  }

  function show(form, ok, text, detail) {
    var out = form.querySelector("[data-l2i-result]") ||
              document.querySelector("[data-l2i-result]");
    if (out) {
      out.textContent = text;
      out.setAttribute("data-l2i-state", ok ? "sent" : "error");
      if (detail && detail.lead_id) out.setAttribute("data-lead-id", detail.lead_id);
    }
    form.dispatchEvent(new CustomEvent(ok ? "l2i:sent" : "l2i:error", { detail: detail || {} }));
  }

  function send(form, event) {
    event.preventDefault();
    var trap = form.querySelector('[name="_gotcha"]');
    var thanks = form.getAttribute("data-l2i-thanks") || "Thank you! We got your details.";
    if (trap && trap.value) { show(form, true, thanks); return; }
    var button = form.querySelector('[type="submit"]');
    if (button) button.disabled = true;
    var url = (form.getAttribute("data-l2i-endpoint") || base) + "/v1/leads";
    fetch(url, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      headers: { "Authorization": "Bearer " + form.getAttribute("data-l2i-key"),
                 "Content-Type": "application/json" },
      body: JSON.stringify(collect(form))
    }).then(function (resp) {
      return resp.json().then(function (body) {
        if (!resp.ok) {
          var names = (body.errors || []).map(function (e) { return e.param; }).join(", ");
          var why = (body.detail || "Could not send the form.") + (names ? " (" + names + ")" : "");
          show(form, false, why,
               { status: resp.status, code: body.code, errors: body.errors || [] });
          return;
        }
        var detail = { lead_id: body.lead_id, outcome: body.outcome, status: body.status,
                       remaining: resp.headers.get("X-RateLimit-Remaining") };
        show(form, true, thanks, detail);
        var next = form.getAttribute("data-l2i-success");
        if (next) location.assign(next);
      });
    }).catch(function () {
      show(form, false, "Could not reach the server; please try again.", { status: 0 });
    }).then(function () { if (button) button.disabled = false; });
  }

  function attach() {
    var forms = document.querySelectorAll("form[data-l2i-key]");
    for (var i = 0; i < forms.length; i++) {
      forms[i].addEventListener("submit", send.bind(null, forms[i]));
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", attach);
  else attach();
})();
"""
