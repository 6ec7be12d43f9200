export {
  FakeGoogle,
  PROJECT_NUMBER,
  ROLE_PERMISSIONS,
  type AnyEndpoint,
  type Endpoint,
  type Fault,
  type IapApp,
  type Identity,
} from './server.ts';
