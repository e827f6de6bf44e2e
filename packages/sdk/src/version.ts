/** The SDK's name and version, as sent in `MS-PartnerCenter-Client` and `MS-SdkVersion`. */
export const SDK_NAME = 'PartnerKit TypeScript SDK';
/** Kept equal to package.json's version (a test checks). */
export const SDK_VERSION = '0.1.0';
