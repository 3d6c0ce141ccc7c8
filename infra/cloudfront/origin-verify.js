// CloudFront Function (viewer request, cloudfront-js-2.0) for every request bound for the API:
//
// 1. The origin secret: stamps the request with the secret header, which the API's functions
//    compare in constant time and without which they answer 404
//    (functions/http/src/origin.rs). The value lives in the distribution's
//    KeyValueStore, written by the operator from the origin-verify secret (infra/README.md),
//    so it is in neither the Terraform state nor this code.
// 2. The viewer's address: API Gateway reports CloudFront's edge address as the source IP, so
//    the code's per-IP limits would count a whole edge location as one client. The function
//    sets the viewer IP header to the address CloudFront accepted the connection from
//    (event.viewer.ip: IPv4 only, as the distribution has IPv6 off). The code trusts it only
//    on requests that also carry the matching origin secret, i.e. that came through here.
//
// 3. The host name: with a custom domain (api_domain_name) only that name is served. The
//    distribution's own *.cloudfront.net name cannot be given a TLS minimum and accepts TLS
//    1.0, so requests to it are refused (421) instead of reaching the API.
//
// A viewer's own copy of either header is always dropped first, never passed on. Headers set
// here are part of the viewer request CloudFront forwards; the distribution's origin request
// policy (Managed-AllViewerExceptHostHeader) passes every viewer header but Host to the API.
import cf from 'cloudfront';

const kvs = cf.kvs('${kvs_id}');

const API_HOST = '${api_host}';

async function handler(event) {
  const request = event.request;
  if (API_HOST !== '') {
    const host = request.headers.host ? request.headers.host.value.toLowerCase() : '';
    if (host !== API_HOST) {
      return { statusCode: 421, statusDescription: 'Misdirected Request' };
    }
  }
  delete request.headers['${header}'];
  delete request.headers['${viewer_ip_header}'];
  request.headers['${viewer_ip_header}'] = { value: event.viewer.ip };
  try {
    request.headers['${header}'] = { value: await kvs.get('${kvs_key}') };
  } catch (e) {
    // No value yet: the request goes on without one and the API refuses it (fails closed).
  }
  return request;
}
