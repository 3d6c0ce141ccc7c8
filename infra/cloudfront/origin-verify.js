// CloudFront Function (viewer request, cloudfront-js-2.0): stamps every request bound for the
// API with the origin secret, which the API's functions compare in constant time and without
// which they answer 404 (functions/portal/src/http/origin.rs). The value lives in the
// distribution's KeyValueStore, written by the operator from the origin-verify secret
// (infra/README.md), so it is in neither the Terraform state nor this code.
import cf from 'cloudfront';

const kvs = cf.kvs('${kvs_id}');

async function handler(event) {
  const request = event.request;
  // A viewer's own copy is never passed on.
  delete request.headers['${header}'];
  try {
    request.headers['${header}'] = { value: await kvs.get('${kvs_key}') };
  } catch (e) {
    // No value yet: the request goes on without one and the API refuses it (fails closed).
  }
  return request;
}
