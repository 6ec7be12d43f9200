import { describe, expect, test } from '@jest/globals';
import { flagInputs } from '../src/cli/flag-inputs.ts';

describe('flagInputs: the environment stands in for a secret flag only where it fits', () => {
  const env = { IAP_TOKEN_REFRESH_TOKEN: '1//refresh', IAP_TOKEN_CLIENT_SECRET: 'GOCSPX-secret' };
  const read = (values: Record<string, string>, from: Record<string, string> = env) => {
    const input = flagInputs(values, from);
    return { refresh: input('refresh_token'), secret: input('oauth_client_secret') };
  };

  test('the refresh token when no other credential flag is given, the client secret only beside a refresh token', () => {
    // One table, asserted whole: the rows that keep today's behaviour stand beside the ones that change it.
    expect({
      nothing: read({}),
      clientId: read({ 'client-id': 'id' }),
      keyFile: read({ 'credentials-file': '/dev/null' }),
      refreshFlag: read({ 'refresh-token': '1//flag' }),
      secretFlag: read({ 'credentials-file': '/dev/null', 'client-secret': 'GOCSPX-given' }),
      secretAlone: read({}, { IAP_TOKEN_CLIENT_SECRET: 'GOCSPX-secret' }),
    }).toEqual({
      nothing: { refresh: '1//refresh', secret: 'GOCSPX-secret' },
      clientId: { refresh: '1//refresh', secret: 'GOCSPX-secret' },
      keyFile: { refresh: undefined, secret: undefined },
      refreshFlag: { refresh: '1//flag', secret: 'GOCSPX-secret' },
      // Given explicitly, kept: the inputs' check then says it goes with --refresh-token.
      secretFlag: { refresh: undefined, secret: 'GOCSPX-given' },
      secretAlone: { refresh: undefined, secret: undefined },
    });
  });
});
