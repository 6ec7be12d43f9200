export { FakeGoogle, ROLE_PERMISSIONS, type Endpoint, type Fault, type Identity } from './server.ts';
